// Verifies the page's events against the trace log's signed tree head, in the browser.
//
// The proofs (dehong-trace-page-proofs/1, embedded in the page as JSON) hold each event as
// stored, its leaf index and inclusion proof, the log's C2SP checkpoint (a signed note)
// and the log's verifier key. For each event: leaf = SHA-256(0x00 || RFC 8785 canonical
// JSON of the event); the RFC 9162 inclusion proof leads from the leaf to the root; the
// checkpoint carrying that root is signed with Ed25519 by the key. Only when every
// check holds does the page say 已验证.
//
// WebCrypto first (SHA-256, Ed25519); where it is missing (plain HTTP, older WeChat
// WebViews) the vendored, audited @noble/hashes and @noble/ed25519 (vendor/, loaded on
// demand only).

const enc = new TextEncoder();
let noble = null; // {sha256, ed} once loaded
export let engine = "webcrypto";

async function loadNoble() {
  if (!noble) {
    const [h, ed] = await Promise.all([
      import("./vendor/noble-hashes/sha2.js"),
      import("./vendor/noble-ed25519/index.js"),
    ]);
    ed.hashes.sha512 = h.sha512;
    noble = { sha256: h.sha256, ed };
  }
  engine = "noble";
  return noble;
}

function subtle() {
  const c = globalThis.crypto;
  return c && c.subtle ? c.subtle : null;
}

export async function sha256(bytes) {
  const s = subtle();
  if (s) {
    try {
      return new Uint8Array(await s.digest("SHA-256", bytes));
    } catch (e) {
      /* fall through to the vendored hash */
    }
  }
  return (await loadNoble()).sha256(bytes);
}

export async function ed25519Verify(publicKey, signature, message) {
  const s = subtle();
  if (s) {
    try {
      const key = await s.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
      return await s.verify({ name: "Ed25519" }, key, signature, message);
    } catch (e) {
      /* no Ed25519 in this WebCrypto: the vendored one */
    }
  }
  const { ed } = await loadNoble();
  try {
    return ed.verify(signature, message, publicKey);
  } catch (e) {
    return false;
  }
}

// RFC 8785: keys sorted by UTF-16 code units, ECMAScript number and string forms.
export function canonical(v) {
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return "[" + v.map(canonical).join(",") + "]";
  return (
    "{" +
    Object.keys(v)
      .sort()
      .map((k) => JSON.stringify(k) + ":" + canonical(v[k]))
      .join(",") +
    "}"
  );
}

export function b64(text) {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function cat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

const node = (l, r) => sha256(cat(Uint8Array.of(1), l, r));

// RFC 9162 2.1.3.2
export async function rootFromInclusion(index, size, leaf, path) {
  if (!(index < size)) return null;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = await node(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = await node(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

// A C2SP checkpoint in a signed note, signed by the note verifier key
// "<name>+<key id hex>+<base64(0x01 || public key)>".
export async function openCheckpoint(note, vkey) {
  // the base64 key may hold "+" itself: split at the first two only
  const i = vkey.indexOf("+");
  const j = vkey.indexOf("+", i + 1);
  if (i < 0 || j < 0) throw new Error("log key: not a note verifier key");
  const name = vkey.slice(0, i);
  const idHex = vkey.slice(i + 1, j);
  const keyB64 = vkey.slice(j + 1);
  const keyBytes = b64(keyB64);
  if (keyBytes.length !== 33 || keyBytes[0] !== 1) throw new Error("log key: not an Ed25519 key");
  const pub = keyBytes.slice(1);
  const want = (await sha256(cat(enc.encode(name), Uint8Array.of(10), keyBytes))).slice(0, 4);
  const wantHex = Array.from(want, (b) => b.toString(16).padStart(2, "0")).join("");
  if (wantHex !== idHex) throw new Error("log key: key id does not match the key");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new Error("checkpoint: no signature");
  const text = note.slice(0, split + 1);
  let signed = false;
  for (const line of note.slice(split + 2).split("\n")) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const sig = b64(m[2]);
    if (sig.length !== 68 || !equal(sig.slice(0, 4), want)) continue;
    if (await ed25519Verify(pub, sig.slice(4), enc.encode(text))) signed = true;
  }
  if (!signed) throw new Error("checkpoint: the log's signature does not verify");
  const lines = text.split("\n");
  if (lines[0] !== name) throw new Error("checkpoint: origin is not the key's name");
  return { origin: lines[0], size: Number(lines[1]), root: b64(lines[2]) };
}

// {ok, size, failed: [eventID...], error}
export async function verifyBundle(bundle) {
  const head = await openCheckpoint(bundle.checkpoint, bundle.log_key);
  const failed = [];
  let redacted = 0;
  for (const e of bundle.entries) {
    const id = e.event_id;
    if (e.leaf_index === null || e.leaf_index === undefined) {
      failed.push(id);
      continue;
    }
    let leaf;
    if (e.redacted) {
      // an event that may name a person: its leaf hash only (the server compared it
      // with the stored event); its inclusion under the signed root is checked here
      redacted += 1;
      if (!e.stored_matches) {
        failed.push(id);
        continue;
      }
      leaf = b64(e.leaf_hash);
    } else {
      const suffix = "#errorDeclaration";
      const eventId = id.endsWith(suffix) ? id.slice(0, -suffix.length) : id;
      if (!e.event || e.event.eventID !== eventId) {
        failed.push(id);
        continue;
      }
      leaf = await sha256(cat(Uint8Array.of(0), enc.encode(canonical(e.event))));
    }
    const root = await rootFromInclusion(e.leaf_index, head.size, leaf, e.inclusion_proof.map(b64));
    if (!root || !equal(root, head.root)) failed.push(id);
  }
  return { ok: failed.length === 0 && bundle.entries.length > 0, size: head.size, failed, redacted };
}
