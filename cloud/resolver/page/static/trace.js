// The trace page: verify the events in the browser (verify.js), then, for a logged-in
// operator of the lot's county (the phone page's token in localStorage), add the
// operators' view. Everything else on the page is rendered by the server.
import { verifyBundle, engine } from "./verify.js";

const $ = (sel) => document.querySelector(sel);

function both(zh, en) {
  const span = document.createElement("span");
  const a = document.createElement("span");
  a.className = "zh";
  a.textContent = zh;
  const b = document.createElement("span");
  b.className = "en";
  b.lang = "en";
  b.textContent = en;
  span.append(a, b);
  return span;
}

function setBadge(state, zh, en, detailZh, detailEn) {
  const badge = $("#verify");
  badge.dataset.state = state;
  badge.replaceChildren(both(zh, en));
  const d = $("#verify-detail");
  if (d) d.replaceChildren(both(detailZh, detailEn));
}

async function verify() {
  const data = $("#bundle");
  if (!data) {
    setBadge("unavailable", "无法验证", "cannot verify", "本平台的日志暂不能签名", "the log cannot sign yet");
    return;
  }
  try {
    const bundle = JSON.parse(data.textContent);
    const r = await verifyBundle(bundle);
    document.body.dataset.crypto = engine;
    if (r.ok) {
      setBadge("verified", "已验证", "verified",
        `${bundle.entries.length} 条记录均在已签名的日志中（树大小 ${r.size}）`,
        `all ${bundle.entries.length} records are in the signed log (tree size ${r.size})`);
    } else {
      for (const id of r.failed) {
        for (const el of document.querySelectorAll("[data-event-id]")) {
          if (el.dataset.eventId === id) el.classList.add("tampered");
        }
      }
      setBadge("failed", "警告：记录与签名日志不符", "warning: records do not match the signed log",
        `${r.failed.length} 条记录被改动或不在日志中，请勿信任标红的内容`,
        `${r.failed.length} record(s) changed or not logged: do not trust the marked steps`);
    }
  } catch (e) {
    setBadge("failed", "警告：无法通过验证", "warning: verification failed", String(e.message || e), String(e.message || e));
  }
}

async function operatorView() {
  let token = null;
  try { token = localStorage.getItem("dh.token"); } catch (e) { return; }
  const box = $("#operator");
  if (!token || !box) return;
  const r = await fetch(box.dataset.src, { headers: { Authorization: `Bearer ${token}` } });
  if (!r.ok) return; // another county's lot, or an expired login: the public page only
  const v = await r.json();
  box.hidden = false;
  const list = $("#op-events");
  for (const e of v.events) {
    const li = document.createElement("li");
    const body = e.event;
    li.textContent = `${body.eventTime} · ${body.type} · ${body.bizStep || ""} · ${body.eventID}`;
    if (e.declared) li.classList.add("declared");
    list.append(li);
  }
  $("#op-export").href = v.epcis_export;
  const recall = $("#op-recall");
  for (const dir of ["backward", "forward"]) {
    for (const item of v.recall[dir].items) {
      const li = document.createElement("li");
      li.textContent = `${dir === "forward" ? "→" : "←"} ${item.uri}`;
      recall.append(li);
    }
  }
  const brand = $("#op-brand");
  for (const d of v.brand_history) {
    const li = document.createElement("li");
    li.textContent = `${d.decided_at} · ${d.granted ? "授予 granted" : "未授予 not granted"} · v${d.ruleset_version} · ${d.trigger} · ${d.reason}`;
    brand.append(li);
  }
}

verify().finally(() => { document.body.dataset.ready = "1"; });
operatorView().catch(() => {});
