// GS1 codes read from a QR or typed: a Digital Link URI (any resolver host, e.g.
// https://id.gs1.org/01/{gtin}/10/{lot} for a lot, /00/{sscc} for a case or pallet),
// an element string "(01)...(10)..." / "(00)...", or a bare SSCC (18 digits).

/** GS1 mod-10 check digit of the digits before the last one is the last one. */
export function checkDigitOk(digits) {
  if (!/^\d+$/.test(digits)) return false;
  let sum = 0;
  const body = digits.slice(0, -1);
  for (let i = 0; i < body.length; i++) {
    const d = Number(body[body.length - 1 - i]);
    sum += i % 2 === 0 ? d * 3 : d;
  }
  return (10 - (sum % 10)) % 10 === Number(digits[digits.length - 1]);
}

/** A GTIN-8/12/13/14 as GTIN-14, or null when malformed. */
export function gtin14(value) {
  const v = String(value || "").trim();
  if (!/^(\d{8}|\d{12}|\d{13}|\d{14})$/.test(v) || !checkDigitOk(v)) return null;
  return v.padStart(14, "0");
}

export function sscc18(value) {
  const v = String(value || "").trim();
  return /^\d{18}$/.test(v) && checkDigitOk(v) ? v : null;
}

function fromPairs(pairs) {
  const ai = new Map(pairs);
  if (ai.has("00")) {
    const sscc = sscc18(ai.get("00"));
    return sscc ? { kind: "container", sscc } : { kind: "invalid", reason: "sscc" };
  }
  if (ai.has("01")) {
    const gtin = gtin14(ai.get("01"));
    if (!gtin) return { kind: "invalid", reason: "gtin" };
    const lot = ai.get("10");
    return lot ? { kind: "lot", gtin, lot } : { kind: "product", gtin };
  }
  return null;
}

/**
 * Parse a scanned or typed code.
 * Returns {kind: "lot", gtin, lot} | {kind: "container", sscc} | {kind: "product", gtin}
 * | {kind: "invalid", reason} | {kind: "unknown", text}.
 */
export function parseCode(raw) {
  const text = String(raw || "").trim();
  if (!text) return { kind: "unknown", text };
  const bare = sscc18(text);
  if (bare) return { kind: "container", sscc: bare };
  if (/^\d{18}$/.test(text)) return { kind: "invalid", reason: "sscc" };
  if (/^https?:\/\//i.test(text)) {
    let url;
    try {
      url = new URL(text);
    } catch {
      return { kind: "unknown", text };
    }
    // The primary key may follow a path prefix of the resolver: find "/01/" or "/00/".
    const parts = url.pathname.split("/").filter(Boolean);
    const start = parts.findIndex((p, i) => (p === "01" || p === "00") && i + 1 < parts.length);
    if (start >= 0) {
      const pairs = [];
      for (let i = start; i + 1 < parts.length; i += 2) {
        pairs.push([parts[i], decodeURIComponent(parts[i + 1])]);
      }
      const found = fromPairs(pairs);
      if (found) return found;
    }
    return { kind: "unknown", text };
  }
  if (text.startsWith("(")) {
    const pairs = [...text.matchAll(/\((\d{2,4})\)([^(]*)/g)].map((m) => [m[1], m[2]]);
    const found = fromPairs(pairs);
    if (found) return found;
  }
  const gtin = gtin14(text);
  if (gtin) return { kind: "product", gtin };
  return { kind: "unknown", text };
}

/** The Digital Link of a lot (what the server's lot.uri is, on id.gs1.org). */
export function lotLink(gtin, lot) {
  return `https://id.gs1.org/01/${gtin}/10/${encodeURIComponent(lot)}`;
}
