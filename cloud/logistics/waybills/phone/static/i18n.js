// Chinese first; English by the header's button (kept in localStorage "dh.lang").
const TEXT = {
  title: ["德宏冷链 · 司机", "Dehong cold chain · Driver"],
  "login.title": ["司机登录", "Driver login"],
  "login.user": ["用户名", "Username"],
  "login.password": ["密码", "Password"],
  "login.submit": ["登录", "Log in"],
  // UN/CEFACT Rec. 20 unit codes, as lots carry them (cloud/trace): a driver reads 千克, not KGM.
  "u.KGM": ["千克", "kg"],
  "u.TNE": ["吨", "t"],
  "u.GRM": ["克", "g"],
  "u.H87": ["件", "pcs"],
  "u.LTR": ["升", "L"],
  "u.XBX": ["箱", "boxes"],
  "login.failed": ["用户名或密码错误", "Wrong username or password"],
  "login.offline": ["没有网络，无法登录", "No network: cannot log in"],
  "act.loadAll": ["全部装车", "Load all"],
  "act.depart": ["发车", "Depart"],
  "act.load": ["装车", "Load"],
  "act.arrive": ["到达", "Arrived"],
  "act.deliver": ["签收", "Deliver"],
  "attention.title": ["需要处理", "Needs attention"],
  "waiting.title": ["待上传", "Waiting to upload"],
  "sync.now": ["立即上传", "Upload now"],
  refresh: ["刷新行程", "Refresh trip"],
  logout: ["退出", "Log out"],
  cancel: ["取消", "Cancel"],
  discard: ["放弃", "Discard"],
  "pod.title": ["签收", "Proof of delivery"],
  "pod.receiver": ["收货人姓名", "Receiver's name"],
  "pod.photo": ["货物照片", "Photo of the goods"],
  "pod.signature": ["收货人签名", "Receiver's signature"],
  "pod.clear": ["重签", "Clear"],
  "pod.code": ["签收码（如有）", "Delivery code (if sent)"],
  "pod.submit": ["确认签收", "Confirm delivery"],
  "pod.needName": ["请填写收货人姓名", "Enter the receiver's name"],
  "pod.needProof": ["请拍照或让收货人签名", "Take a photo or get a signature"],
  "pod.noGps": ["无法获取定位，请打开定位后重试", "No GPS fix: turn location on and retry"],
  "pod.gps": ["定位", "GPS"],
  "net.on": ["在线", "Online"],
  "net.off": ["离线", "Offline"],
  "trip.none": ["今天没有分配给您的行程", "No trip assigned to you"],
  "trip.title": ["行程", "Trip"],
  "trip.waybills": ["单", "waybills"],
  "trip.stop": ["站点", "Stop"],
  "retry.network": ["网络不通，稍后自动重试", "No connection; it retries by itself"],
  "queued": ["已记录，联网后自动上传", "Recorded; it uploads when the signal returns"],
  "trips.cached": ["离线：显示上次保存的行程", "Offline: showing the last saved trip"],
  "st.created": ["已创建", "created"],
  "st.assigned": ["已派车", "assigned"],
  "st.loaded": ["已装车", "loaded"],
  "st.departed": ["已发车", "departed"],
  "st.arrived": ["已到达", "arrived"],
  "st.delivered": ["已签收", "delivered"],
  "st.rejected": ["已拒收", "rejected"],
  "st.damaged": ["货损", "damaged"],
  "st.returned": ["已退回", "returned"],
  "st.pending": ["待上传", "not uploaded"],
};

export let lang = localStorage.getItem("dh.lang") === "en" ? "en" : "zh";

export function t(key) {
  const pair = TEXT[key];
  if (!pair) return key;
  return lang === "en" ? pair[1] : pair[0];
}

// A quantity's unit for people: the code's name when we know it, else the code itself.
export function unit(code) {
  return code && TEXT[`u.${code}`] ? t(`u.${code}`) : code || "";
}

export function apply(root = document) {
  document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  const btn = document.getElementById("lang");
  if (btn) btn.textContent = lang === "en" ? "中文" : "EN";
}

export function toggle() {
  lang = lang === "en" ? "zh" : "en";
  localStorage.setItem("dh.lang", lang);
  apply();
}
