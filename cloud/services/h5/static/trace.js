// The trace lookup's scan button: the phone page's reader (/m/trace/static/scan.js:
// BarcodeDetector, else jsQR) puts the code in the field and sends the form; the
// server validates it. Shown only where the browser has a camera API.
const button = document.getElementById("scan");
const video = document.getElementById("camera");
const state = document.getElementById("scan-state");
const form = document.getElementById("lookup-form");
const input = document.getElementById("code");
const zh = () => document.documentElement.getAttribute("data-lang") !== "en";

if (button && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
  button.hidden = false;
  let stop = null;
  button.addEventListener("click", async () => {
    if (stop) {
      stop();
      stop = null;
      video.hidden = true;
      return;
    }
    const { startScan } = await import("/m/trace/static/scan.js");
    video.hidden = false;
    state.textContent = zh() ? "请将二维码对准取景框…" : "Point the camera at the QR code…";
    stop = await startScan(
      video,
      (text) => {
        stop = null;
        video.hidden = true;
        input.value = text;
        state.textContent = zh() ? "已识别，正在查询…" : "Read; looking it up…";
        form.submit();
      },
      (err) => {
        video.hidden = true;
        stop = null;
        state.textContent = (zh() ? "无法使用相机：" : "The camera is not available: ") + err.message;
      },
    );
  });
}
