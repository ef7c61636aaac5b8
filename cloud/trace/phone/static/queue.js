// The phone's outbox: each recorded step in IndexedDB ("ops"), with the eventID and
// time made when it was recorded, so that every retry sends the very same body and the
// server answers 200 "unchanged" for one it already has. Cached pickers and the recent
// uploads live in the "kv" store.

let DB_NAME = "dehong-trace-phone";
const DB_VERSION = 1;
let dbPromise = null;
// Where a queued op is sent, and how a new op's body is stamped with its id and time:
// the trace page's by default; another page (the driver's, /m/driver) configures its own.
let urlOf = (api, op) => `${api}/trace/ops/${op.step}`;
let stamp = (body, id) => ({ ...body, event_id: id, time: localIso() });

/** Another page's outbox: its own database, URLs and stamp (call before any other use). */
export function configure({ dbName, url, stampWith }) {
  if (dbPromise) throw new Error("configure the queue before opening it");
  if (dbName) DB_NAME = dbName;
  if (url) urlOf = url;
  if (stampWith) stamp = stampWith;
}

function req(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

export function openDb() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const open = indexedDB.open(DB_NAME, DB_VERSION);
      open.onupgradeneeded = () => {
        const db = open.result;
        if (!db.objectStoreNames.contains("ops")) {
          db.createObjectStore("ops", { keyPath: "id" }).createIndex("created", "created");
        }
        if (!db.objectStoreNames.contains("kv")) db.createObjectStore("kv");
      };
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
  }
  return dbPromise;
}

async function store(name, mode) {
  const db = await openDb();
  return db.transaction(name, mode).objectStore(name);
}

export async function putOp(op) {
  await req((await store("ops", "readwrite")).put(op));
}
export async function deleteOp(id) {
  await req((await store("ops", "readwrite")).delete(id));
}
export async function allOps() {
  return req((await store("ops", "readonly")).index("created").getAll());
}
export async function kvGet(key, fallback = null) {
  const v = await req((await store("kv", "readonly")).get(key));
  return v === undefined ? fallback : v;
}
export async function kvSet(key, value) {
  await req((await store("kv", "readwrite")).put(value, key));
}

/** The local time with its offset, e.g. 2026-12-04T12:21:34.120+08:00 (EPCIS wants the
 * offset of where it happened). */
export function localIso(date = new Date()) {
  const pad = (n, w = 2) => String(Math.abs(n)).padStart(w, "0");
  const off = -date.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `.${pad(date.getMilliseconds(), 3)}${sign}${pad(Math.trunc(off / 60))}:${pad(off % 60)}`
  );
}

/** A new queued step: its eventID and time are fixed here, once. */
export async function record(step, body, summary, extra = {}) {
  const id = `urn:uuid:${crypto.randomUUID()}`;
  const op = {
    ...extra,
    id,
    step,
    body: stamp(body, id),
    summary,
    created: Date.now(),
    state: "waiting", // waiting | attention
    attempts: 0,
    error: null, // {status, detail, field, kind}
  };
  await putOp(op);
  return op;
}

const RETRY_STATUSES = new Set([408, 425, 429]);

/**
 * Sends the outbox, oldest first, one at a time. A 2xx removes the step (kept in
 * "recent"); a 409 or another 4xx moves it to "needs attention" with the server's
 * field and reason; a 401 stops until the next login; 5xx, 408/429 and network errors
 * leave it waiting and schedule a retry with exponential backoff (jittered, capped).
 * The "online" event and visibility retry at once. Never a busy loop: one timer.
 */
export class Syncer {
  constructor({ api, token, onChange, onAuthLost, onSent = () => {}, baseDelay = 3000, maxDelay = 300000 }) {
    this.onSent = onSent;
    this.api = api;
    this.token = token;
    this.onChange = onChange;
    this.onAuthLost = onAuthLost;
    this.baseDelay = baseDelay;
    this.maxDelay = maxDelay;
    this.failures = 0;
    this.timer = null;
    this.running = null;
    this.nextAt = null;
    this.lastOk = null;
    this.paused = false;
    addEventListener("online", () => this.now());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.now();
    });
  }

  /** Retry now (button, online event, a new step), resetting the backoff. */
  now() {
    this.failures = 0;
    return this.sync();
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = null;
    this.nextAt = null;
    if (this.paused) return;
    const delay = Math.min(this.maxDelay, this.baseDelay * 2 ** Math.min(this.failures, 16));
    const jittered = Math.round(delay * (0.8 + Math.random() * 0.4));
    this.nextAt = Date.now() + jittered;
    this.timer = setTimeout(() => this.sync(), jittered);
  }

  async sync() {
    if (this.running) return this.running;
    this.running = this._sync().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  async _sync() {
    clearTimeout(this.timer);
    this.timer = null;
    this.nextAt = null;
    const token = this.token();
    if (!token) {
      this.paused = true;
      this.onChange();
      return;
    }
    this.paused = false;
    const waiting = (await allOps()).filter((op) => op.state === "waiting");
    let retry = false;
    for (const op of waiting) {
      const result = await this.send(op, token);
      if (result === "auth") {
        this.paused = true;
        this.onAuthLost();
        break;
      }
      if (result === "retry") {
        retry = true;
        break; // the signal is poor: keep the order, try again later
      }
    }
    if (retry) {
      this.failures += 1;
    } else {
      this.failures = 0;
    }
    const left = (await allOps()).some((op) => op.state === "waiting");
    if (left && !this.paused) this.schedule();
    this.onChange();
  }

  async send(op, token) {
    op.attempts += 1;
    op.lastTry = Date.now();
    let response;
    const abort = new AbortController();
    const timeout = setTimeout(() => abort.abort(), 20000);
    try {
      response = await fetch(urlOf(this.api, op), {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
        body: JSON.stringify(op.body),
        signal: abort.signal,
      });
    } catch (err) {
      op.error = { kind: "network", detail: String((err && err.message) || err) };
      await putOp(op);
      return "retry";
    } finally {
      clearTimeout(timeout);
    }
    let payload = null;
    try {
      payload = await response.json();
    } catch {
      payload = null;
    }
    if (response.ok) {
      await deleteOp(op.id);
      const recent = await kvGet("recent", []);
      recent.unshift({
        id: op.id,
        step: op.step,
        summary: op.summary,
        outcome: (payload && payload.outcome) || "stored",
        at: Date.now(),
      });
      await kvSet("recent", recent.slice(0, 10));
      this.lastOk = Date.now();
      this.onSent(op);
      return "ok";
    }
    const detail = payload && payload.detail ? String(payload.detail) : response.statusText;
    const field = payload && payload.field ? String(payload.field) : null;
    op.error = { kind: "http", status: response.status, detail, field };
    if (response.status === 401) {
      await putOp(op);
      return "auth";
    }
    if (response.status >= 500 || RETRY_STATUSES.has(response.status)) {
      await putOp(op);
      return "retry";
    }
    op.state = "attention";
    await putOp(op);
    return "refused";
  }
}
