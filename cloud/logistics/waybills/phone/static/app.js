// The driver's page: the trip, its stops and waybills, and the actions (load, depart,
// arrive, deliver with its proof), each queued in IndexedDB (the trace page's outbox,
// /m/trace/static/queue.js, with this page's own database) and sent when the signal
// returns. The server does each request_id once, so a resend is harmless.
import {
  Syncer, allOps, configure, deleteOp, kvGet, kvSet, localIso, putOp, record,
} from "/m/trace/static/queue.js";
import { apply, t, toggle, unit } from "./i18n.js";
import { SignPad } from "./sign.js";

const API = "/api/v1";
configure({
  dbName: "dehong-driver",
  url: (api, op) =>
    `${api}/logistics/waybills/${op.waybill}/${op.step === "deliver" ? "deliver" : "transitions"}?source=phone`,
  stampWith: (body, id) => ({ ...body, request_id: id, at: localIso() }),
});

const $ = (id) => document.getElementById(id);
const state = { token: localStorage.getItem("dh.driver.token"), user: localStorage.getItem("dh.driver.user"),
  trips: [], tripsAt: null, fromCache: false, ops: [], podFor: null, fix: null };
const syncer = new Syncer({
  api: API,
  token: () => state.token,
  onChange: () => refreshOps(),
  onAuthLost: () => logout(true),
  onSent: () => { if (navigator.onLine) loadTrips(); },
});
globalThis.dhDriver = { state, syncer };

function toast(text) {
  const el = $("toast");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 2500);
}

function net() {
  const el = $("net");
  el.className = `pill ${navigator.onLine ? "on" : "off"}`;
  el.textContent = t(navigator.onLine ? "net.on" : "net.off");
}

// ------------------------------------------------------------------------ login

async function login(ev) {
  ev.preventDefault();
  $("login-error").textContent = "";
  const body = new URLSearchParams({ username: $("username").value, password: $("password").value });
  let r;
  try {
    r = await fetch(`${API}/auth/token`, { method: "POST", body });
  } catch {
    $("login-error").textContent = t("login.offline");
    return;
  }
  if (!r.ok) {
    $("login-error").textContent = t("login.failed");
    return;
  }
  state.token = (await r.json()).access_token;
  state.user = $("username").value;
  localStorage.setItem("dh.driver.token", state.token);
  localStorage.setItem("dh.driver.user", state.user);
  show();
  await loadTrips();
  syncer.now();
}

function logout(lost = false) {
  state.token = null;
  localStorage.removeItem("dh.driver.token");
  show();
  if (lost) $("login-error").textContent = t("login.failed");
}

function show() {
  $("login").hidden = !!state.token;
  $("work").hidden = !state.token;
  $("who").textContent = state.user || "";
}

// ------------------------------------------------------------------------ trips

async function loadTrips() {
  if (!state.token) return;
  try {
    const r = await fetch(`${API}/logistics/trips`, { headers: { Authorization: `Bearer ${state.token}` } });
    if (r.status === 401) return logout(true);
    if (!r.ok) throw new Error(String(r.status));
    state.trips = await r.json();
    state.tripsAt = Date.now();
    state.fromCache = false;
    await kvSet("trips", { trips: state.trips, at: state.tripsAt });
  } catch {
    const cached = await kvGet("trips", null);
    if (cached) {
      state.trips = cached.trips;
      state.tripsAt = cached.at;
      state.fromCache = true;
    }
  }
  render();
}

function beijingToday() {
  return new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10);
}

function currentTrip() {
  const today = beijingToday();
  return state.trips.find((x) => x.day === today) || state.trips[0] || null;
}

/** The status the driver sees: the last queued action's, else the server's. */
function effective(wb) {
  const mine = state.ops.filter((op) => op.waybill === wb.id && op.state === "waiting");
  if (!mine.length) return { status: wb.status, pending: false };
  const last = mine[mine.length - 1];
  return { status: last.step === "deliver" ? "delivered" : last.body.to, pending: true };
}

const NEXT = { assigned: ["loaded", "act.load"], departed: ["arrived", "act.arrive"] };

function render() {
  const trip = currentTrip();
  $("trips-state").textContent = state.fromCache ? t("trips.cached") : "";
  const stops = $("stops");
  stops.textContent = "";
  if (!trip) {
    $("trip-title").textContent = t("trip.none");
    $("trip-meta").textContent = "";
    $("load-all").hidden = $("depart").hidden = true;
    return;
  }
  $("trip-title").textContent = `${t("trip.title")} #${trip.id} · ${trip.plate}`;
  $("trip-meta").textContent = `${trip.day} · ${trip.waybills.length} ${t("trip.waybills")}`;
  const byId = new Map(trip.waybills.map((w) => [w.id, w]));
  const statuses = trip.waybills.map((w) => effective(w).status);
  $("load-all").hidden = !statuses.includes("assigned");
  $("depart").hidden = !statuses.includes("loaded");
  for (const stop of trip.stops) {
    const li = document.createElement("li");
    li.className = "stop";
    li.dataset.stop = stop.id;
    const h = document.createElement("h3");
    h.textContent = `${t("trip.stop")} ${stop.seq} · ${stop.location_name}`;
    li.append(h);
    for (const id of stop.waybills) {
      const wb = byId.get(id);
      if (!wb) continue;
      const eff = effective(wb);
      const div = document.createElement("div");
      div.className = "wb";
      div.dataset.waybill = wb.id;
      div.dataset.status = eff.status;
      const num = document.createElement("span");
      num.className = "num";
      num.textContent = wb.number;
      const st = document.createElement("span");
      st.className = `st${eff.pending ? " pending" : ""}`;
      st.textContent = t(`st.${eff.status}`) + (eff.pending ? ` · ${t("st.pending")}` : "");
      const lots = document.createElement("div");
      lots.className = "lots";
      lots.textContent = wb.lots.map((x) => `${x.lot}${x.quantity ? ` ${x.quantity} ${unit(x.unit)}` : ""}`).join(" · ")
        + ` · ${wb.weight_kg} kg`;
      div.append(num, st, lots);
      const row = document.createElement("div");
      row.className = "row";
      if (NEXT[eff.status]) {
        const [to, label] = NEXT[eff.status];
        row.append(button(t(label), () => act(wb, to), `act-${to}`));
      }
      if (eff.status === "arrived") row.append(button(t("act.deliver"), () => openPod(wb), "act-deliver"));
      div.append(row);
      li.append(div);
    }
    stops.append(li);
  }
}

function button(text, onClick, cls) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = `primary ${cls}`;
  b.textContent = text;
  b.addEventListener("click", onClick);
  return b;
}

async function act(wb, to) {
  await record("transition", { to }, `${wb.number} → ${t(`st.${to}`)}`, { waybill: wb.id });
  toast(t("queued"));
  await refreshOps();
  syncer.now();
}

async function actAll(from, to) {
  const trip = currentTrip();
  if (!trip) return;
  for (const wb of trip.waybills) {
    if (effective(wb).status === from) {
      await record("transition", { to }, `${wb.number} → ${t(`st.${to}`)}`, { waybill: wb.id });
    }
  }
  toast(t("queued"));
  await refreshOps();
  syncer.now();
}

// ------------------------------------------------------------------- the proof

let pad = null;

function openPod(wb) {
  state.podFor = wb;
  state.fix = null;
  $("pod-number").textContent = wb.number;
  $("pod-name").value = "";
  $("pod-code").value = "";
  $("pod-photo").value = "";
  $("pod-preview").hidden = true;
  $("pod-error").textContent = "";
  $("pod-gps").textContent = `${t("pod.gps")} …`;
  pad.clear();
  $("pod").hidden = false;
  $("work").hidden = true;
  navigator.geolocation.getCurrentPosition(
    (pos) => {
      state.fix = pos;
      $("pod-gps").textContent =
        `${t("pod.gps")} ${pos.coords.latitude.toFixed(5)}, ${pos.coords.longitude.toFixed(5)} ±${Math.round(pos.coords.accuracy)} m`;
    },
    () => { $("pod-gps").textContent = t("pod.noGps"); },
    { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 },
  );
}

function closePod() {
  $("pod").hidden = true;
  $("work").hidden = false;
  state.podFor = null;
}

/** The chosen photo as a JPEG of at most 640 px, quality 0.75, base64 (or null). */
async function photoJpeg() {
  const file = $("pod-photo").files[0];
  if (!file) return null;
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, 640 / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  return canvas.toDataURL("image/jpeg", 0.75).split(",")[1];
}

async function submitPod(ev) {
  ev.preventDefault();
  const wb = state.podFor;
  const err = $("pod-error");
  const name = $("pod-name").value.trim();
  if (!name) return (err.textContent = t("pod.needName"));
  if (!state.fix) return (err.textContent = t("pod.noGps"));
  const photo = await photoJpeg();
  const sign = pad.png();
  if (!photo && !sign) return (err.textContent = t("pod.needProof"));
  const c = state.fix.coords;
  const body = {
    receiver_name: name, lat: c.latitude, lon: c.longitude, accuracy_m: Math.min(c.accuracy, 10000),
    fix_at: localIso(new Date(state.fix.timestamp)),
  };
  if (photo) body.photo_jpeg = photo;
  if (sign) body.signature_png = sign;
  const code = $("pod-code").value.trim();
  if (code) body.code = code;
  await record("deliver", body, `${wb.number} → ${t("st.delivered")}`, { waybill: wb.id });
  closePod();
  toast(t("queued"));
  await refreshOps();
  syncer.now();
}

// ------------------------------------------------------------------- the outbox

async function refreshOps() {
  state.ops = await allOps();
  const waiting = state.ops.filter((op) => op.state === "waiting");
  const attention = state.ops.filter((op) => op.state === "attention");
  $("waiting-count").textContent = String(waiting.length);
  $("attention-count").textContent = String(attention.length);
  $("attention-box").hidden = !attention.length;
  const ob = $("outbox");
  ob.hidden = !(waiting.length || attention.length);
  ob.className = `pill ${attention.length ? "warn" : "wait"}`;
  ob.textContent = attention.length ? `! ${attention.length}` : `↑ ${waiting.length}`;
  const list = (el, ops, withDiscard) => {
    el.textContent = "";
    for (const op of ops) {
      const li = document.createElement("li");
      li.textContent = op.summary;
      if (op.error) {
        const p = document.createElement("div");
        p.className = op.state === "attention" ? "error" : "muted";
        p.textContent = op.error.kind === "network" ? t("retry.network")
          : op.error.field ? `${op.error.field}: ${op.error.detail}` : op.error.detail;
        li.append(p);
      }
      if (withDiscard) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "small ghost";
        b.textContent = t("discard");
        b.addEventListener("click", async () => { await deleteOp(op.id); await refreshOps(); });
        li.append(b);
      }
      el.append(li);
    }
  };
  list($("waiting"), waiting, false);
  list($("attention"), attention, true);
  render();
}

// ------------------------------------------------------------------------ start

async function start() {
  apply();
  net();
  addEventListener("online", net);
  addEventListener("offline", net);
  $("lang").addEventListener("click", () => { toggle(); net(); render(); });
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", () => logout());
  $("refresh").addEventListener("click", () => loadTrips());
  $("sync").addEventListener("click", () => syncer.now());
  $("load-all").addEventListener("click", () => actAll("assigned", "loaded"));
  $("depart").addEventListener("click", () => actAll("loaded", "departed"));
  $("pod").addEventListener("submit", submitPod);
  $("pod-cancel").addEventListener("click", closePod);
  pad = new SignPad($("pod-sign"));
  $("pod-clear").addEventListener("click", () => pad.clear());
  $("pod-photo").addEventListener("change", () => {
    const f = $("pod-photo").files[0];
    const img = $("pod-preview");
    img.hidden = !f;
    if (f) img.src = URL.createObjectURL(f);
  });
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/m/driver/sw.js", { scope: "/m/driver" }).catch(() => {});
  }
  show();
  await refreshOps();
  if (state.token) {
    await loadTrips();
    syncer.now();
  }
  document.body.dataset.ready = "1";
}

start();
