// The phone page: login, the step forms, the outbox (waiting / needs attention /
// recently uploaded) and the cached pickers. Works offline once opened with signal.

import { renderForm, STEPS, Invalid } from "./forms.js";
import { applyText, getLang, setLang, t } from "./i18n.js";
import { allOps, deleteOp, kvGet, kvSet, record, Syncer } from "./queue.js";
import { startScan } from "./scan.js";

const API = "/api/v1";
const $ = (sel) => document.querySelector(sel);

const state = {
  token: localStorage.getItem("dh.token"),
  user: localStorage.getItem("dh.user") || "",
  step: localStorage.getItem("dh.step") || "harvest",
  lists: { locations: [], lots: [], products: [], at: null },
  form: null,
  touched: false, // the form has input: a refresh of the lists does not redraw it
  stopScan: null,
};

const syncer = new Syncer({
  api: API,
  token: () => state.token,
  onChange: () => drawOutbox(),
  onAuthLost: () => {
    showLogin(t("sync.paused"));
  },
  // a harvest or process made a lot: the lot picker should offer it
  onSent: (op) => {
    if (op.step === "harvest" || op.step === "process") refreshLists();
  },
});
globalThis.dhPhone = { syncer, state }; // for a look from the console (and the tests)

function fmtTime(ms) {
  return new Date(ms).toLocaleString(getLang() === "en" ? "en-GB" : "zh-CN", { hour12: false });
}

function showLogin(message = "") {
  $("#login").hidden = false;
  $("#work").hidden = true;
  $("#login-error").textContent = message;
  if (state.user) $("#username").value = state.user;
}

function showWork() {
  $("#login").hidden = true;
  $("#work").hidden = false;
  $("#who").textContent = state.user;
  drawSteps();
  drawForm();
  drawOutbox();
}

// --- network state --------------------------------------------------------
function drawNet() {
  const on = navigator.onLine;
  const pill = $("#net");
  pill.textContent = on ? t("online") : t("offline");
  pill.className = `pill ${on ? "on" : "off"}`;
}
addEventListener("online", drawNet);
addEventListener("offline", drawNet);

// --- login -----------------------------------------------------------------
$("#login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const username = $("#username").value.trim();
  const password = $("#password").value;
  $("#login-error").textContent = "";
  let r;
  try {
    r = await fetch(`${API}/auth/token`, {
      method: "POST",
      body: new URLSearchParams({ username, password }),
    });
  } catch {
    $("#login-error").textContent = t("login.offline");
    return;
  }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    $("#login-error").textContent = `${t("login.failed")}: ${body.detail || r.status}`;
    return;
  }
  state.token = body.access_token;
  state.user = username;
  localStorage.setItem("dh.token", state.token);
  localStorage.setItem("dh.user", username);
  $("#password").value = "";
  showWork();
  await refreshLists();
  syncer.now();
});

$("#logout").addEventListener("click", () => {
  state.token = null;
  localStorage.removeItem("dh.token");
  showLogin();
});

// --- cached pickers --------------------------------------------------------
async function fetchAll(path, max = 5) {
  const out = [];
  let url = `${API}${path}`;
  for (let i = 0; i < max && url; i++) {
    const r = await fetch(url, { headers: { Authorization: `Bearer ${state.token}` } });
    if (r.status === 401) throw Object.assign(new Error("401"), { status: 401 });
    if (!r.ok) throw new Error(`${path}: ${r.status}`);
    out.push(...(await r.json()).items);
    const link = r.headers.get("Link") || "";
    const next = /<([^>]+)>;\s*rel="next"/.exec(link);
    url = next ? next[1] : null;
  }
  return out;
}

async function loadLists() {
  const cached = await kvGet("lists", null);
  if (cached) state.lists = cached;
}

async function refreshLists() {
  if (!state.token) return;
  try {
    const [locations, lots, products] = await Promise.all([
      fetchAll("/locations?limit=500"),
      fetchAll("/trace/lots?limit=500"),
      fetchAll("/products?limit=500"),
    ]);
    state.lists = { locations, lots, products, at: Date.now() };
    await kvSet("lists", state.lists);
    if (!state.touched) drawForm();
  } catch (err) {
    if (err.status === 401) showLogin(t("sync.paused"));
  }
  drawListsState();
}

function drawListsState() {
  $("#lists-state").textContent = state.lists.at
    ? `${t("lists.cached")} ${fmtTime(state.lists.at)}`
    : t("lists.none");
}

$("#refresh").addEventListener("click", () => refreshLists());

// --- steps and forms -------------------------------------------------------
function drawSteps() {
  const nav = $("#steps");
  nav.replaceChildren();
  for (const step of STEPS) {
    const b = document.createElement("button");
    b.type = "button";
    b.id = `step-${step}`;
    b.textContent = t(`step.${step}`);
    b.className = step === state.step ? "on" : "";
    b.setAttribute("aria-pressed", String(step === state.step));
    b.addEventListener("click", () => {
      state.step = step;
      localStorage.setItem("dh.step", step);
      drawSteps();
      drawForm();
    });
    nav.append(b);
  }
}

function drawForm() {
  $("#step-title").textContent = t(`step.${state.step}`);
  $("#form-error").textContent = "";
  state.touched = false;
  state.form = renderForm(state.step, $("#fields"), { lists: state.lists, scan: openScanner });
  drawListsState();
}

$("#fields").addEventListener("input", () => {
  state.touched = true;
});
$("#fields").addEventListener("change", () => {
  state.touched = true;
});

$("#step-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("#form-error").textContent = "";
  let collected;
  try {
    collected = state.form.collect();
  } catch (err) {
    if (!(err instanceof Invalid)) throw err;
    $("#form-error").textContent = err.message;
    return;
  }
  const step = state.step;
  drawForm(); // at once: what is typed next belongs to the next record
  try {
    await record(step, collected.body, collected.summary);
  } catch (err) {
    $("#form-error").textContent = `${t("save.failed")}: ${err.message || err}`;
    return;
  }
  toast(t("saved"));
  await drawOutbox();
  syncer.now();
});

let toastTimer = null;
function toast(text) {
  const el = $("#toast");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.hidden = true;
  }, 3000);
}

// --- the outbox --------------------------------------------------------------
function reason(error) {
  if (!error) return "";
  if (error.kind === "network") return t("err.network");
  const s = error.status;
  const key = [401, 403, 404, 409, 422].includes(s) ? `err.${s}` : s >= 500 ? "err.server" : "err.other";
  return `${t(key)} (${s})`;
}

function opItem(op, attention) {
  const li = document.createElement("li");
  li.className = attention ? "op attention" : "op";
  li.dataset.eventId = op.id;
  const head = document.createElement("div");
  head.className = "op-head";
  const step = document.createElement("strong");
  step.textContent = t(`step.${op.step}`);
  const when = document.createElement("span");
  when.className = "muted";
  when.textContent = fmtTime(op.created);
  head.append(step, when);
  const what = document.createElement("div");
  what.className = "code";
  what.textContent = (op.summary || []).join(" · ");
  li.append(head, what);
  if (op.error) {
    const why = document.createElement("div");
    why.className = attention ? "why" : "muted";
    why.textContent = reason(op.error);
    li.append(why);
    if (attention && op.error.kind === "http") {
      const detail = document.createElement("div");
      detail.className = "detail";
      const field = op.error.field ? `${t("field")}: ${op.error.field}\n` : "";
      detail.textContent = `${field}${t("reason")}: ${op.error.detail}`;
      li.append(detail);
    } else if (!attention && op.attempts) {
      why.textContent += ` · ${t("attempts")} ${op.attempts}`;
    }
  }
  if (attention) {
    const discard = document.createElement("button");
    discard.type = "button";
    discard.className = "danger small";
    discard.textContent = t("discard");
    discard.addEventListener("click", async () => {
      if (!confirm(t("discard.confirm"))) return;
      await deleteOp(op.id);
      drawOutbox();
    });
    li.append(discard);
  }
  return li;
}

async function drawOutbox() {
  const ops = await allOps();
  const waiting = ops.filter((o) => o.state === "waiting");
  const attention = ops.filter((o) => o.state === "attention");
  $("#waiting-count").textContent = String(waiting.length);
  $("#attention-count").textContent = String(attention.length);
  $("#waiting").replaceChildren(...waiting.map((o) => opItem(o, false)));
  $("#attention").replaceChildren(...attention.map((o) => opItem(o, true)));
  $("#attention-box").hidden = attention.length === 0;
  const badge = $("#outbox"); // in the bar: what is not on the server yet
  badge.hidden = !waiting.length && !attention.length;
  badge.className = `pill ${attention.length ? "warn" : "wait"}`;
  badge.href = attention.length ? "#attention-box" : "#waiting-box";
  badge.textContent = attention.length
    ? `${t("attention.short")} ${attention.length}`
    : `${t("waiting.short")} ${waiting.length}`;
  let line;
  if (syncer.paused && waiting.length) line = t("sync.paused");
  else if (!waiting.length) line = t("sync.idle");
  else if (syncer.nextAt) line = `${t("sync.next")} ${fmtTime(syncer.nextAt)}`;
  else line = "";
  if (syncer.lastOk) line += ` · ${t("sync.last")} ${fmtTime(syncer.lastOk)}`;
  $("#sync-state").textContent = line;
  const recent = await kvGet("recent", []);
  $("#sent").replaceChildren(
    ...recent.map((r) => {
      const li = document.createElement("li");
      li.className = "op sent";
      li.dataset.eventId = r.id;
      li.textContent = `${t(`step.${r.step}`)} · ${(r.summary || []).join(" · ")} · ${t(`outcome.${r.outcome}`)}`;
      return li;
    }),
  );
}

$("#sync").addEventListener("click", () => syncer.now());

// --- the scanner -----------------------------------------------------------
async function openScanner(onCode) {
  $("#scanner").hidden = false;
  $("#scan-error").textContent = "";
  state.stopScan = await startScan(
    $("#scan-video"),
    (text) => {
      closeScanner();
      state.touched = true;
      onCode(text);
    },
    (err) => {
      $("#scan-error").textContent = `${t("scan.nocamera")} (${err.message || err})`;
    },
  );
}

function closeScanner() {
  if (state.stopScan) state.stopScan();
  state.stopScan = null;
  $("#scanner").hidden = true;
}
$("#scan-cancel").addEventListener("click", closeScanner);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden" && state.stopScan) closeScanner(); // free the camera
});

// --- language ----------------------------------------------------------------
function drawLangButton() {
  $("#lang").textContent = getLang() === "en" ? "中文" : "EN";
}
$("#lang").addEventListener("click", () => {
  setLang(getLang() === "en" ? "zh" : "en");
  drawLangButton();
  drawNet();
  if (!$("#work").hidden) showWork();
});

// --- start -------------------------------------------------------------------
async function start() {
  setLang(getLang());
  drawLangButton();
  drawNet();
  await loadLists();
  if (state.token) {
    showWork();
    refreshLists();
    syncer.now();
  } else {
    showLogin();
  }
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/m/trace/sw.js", { scope: "/m/trace" }).catch(() => {});
  }
  document.body.dataset.ready = "1";
}

start();
