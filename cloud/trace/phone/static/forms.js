// One form per step, from a small table of fields; collect() gives the JSON body of
// POST /api/v1/trace/ops/{step} (without event_id and time: the queue adds them).

import { parseCode } from "./gs1.js";
import { t } from "./i18n.js";

export const STEPS = ["harvest", "process", "pack", "test", "store", "load", "receive", "sell"];
const PROCESSES = [
  "pulping",
  "fermenting",
  "washing",
  "drying",
  "hulling",
  "grading",
  "roasting",
  "sorting",
  "other",
];
const UNITS = ["KGM", "TNE", "H87"]; // UN/ECE Rec. 20: kilogram, tonne, piece
const TESTS = ["moisture", "pesticide_residue", "heavy_metal", "microbial"];

const FIELDS = {
  harvest: [
    { name: "lotcode", type: "lotcode" },
    { name: "quantity", type: "number", label: "f.quantity", required: true },
    { name: "unit", type: "select", label: "f.unit", options: UNITS, prefix: "u." },
    { name: "org_id", type: "number", label: "f.org", required: true },
    { name: "location_id", type: "location", label: "f.location" },
    { name: "produced_on", type: "date", label: "f.produced_on" },
    { name: "origin_base_id", type: "number", label: "f.base" },
  ],
  process: [
    { name: "inputs", type: "items", lotsOnly: true },
    { name: "process", type: "select", label: "f.process", options: PROCESSES, prefix: "p." },
    { name: "output_gtin", type: "product", label: "f.output_product", required: true },
    { name: "output_lot", type: "text", label: "f.output_lot", required: true },
    { name: "quantity", type: "number", label: "f.quantity", required: true },
    { name: "unit", type: "select", label: "f.unit", options: UNITS, prefix: "u." },
    { name: "location_id", type: "location", label: "f.location" },
  ],
  pack: [
    { name: "lots", type: "items", lotsOnly: true },
    { name: "parent", type: "container", label: "f.parent", required: true },
    { name: "location_id", type: "location", label: "f.location" },
  ],
  test: [
    { name: "lots", type: "items", lotsOnly: true, single: true },
    { name: "test", type: "select", label: "f.test", options: TESTS, prefix: "t." },
    { name: "value", type: "number", label: "f.value" },
    { name: "unit", type: "text", label: "f.unit" },
    { name: "limit", type: "number", label: "f.limit" },
    { name: "passed", type: "check", label: "f.passed", value: true },
    { name: "method", type: "select", label: "f.method", options: ["rapid", "lab"], prefix: "m." },
    { name: "location_id", type: "location", label: "f.location" },
  ],
  store: [
    { name: "items", type: "items" },
    { name: "location_id", type: "location", label: "f.location", required: true },
  ],
  load: [
    { name: "items", type: "items" },
    { name: "location_id", type: "location", label: "f.location", required: true },
    { name: "destination_id", type: "location", label: "f.destination" },
  ],
  receive: [
    { name: "items", type: "items" },
    { name: "location_id", type: "location", label: "f.location", required: true },
    { name: "source_id", type: "location", label: "f.source" },
  ],
  sell: [
    { name: "items", type: "items" },
    { name: "location_id", type: "location", label: "f.location" },
    { name: "buyer", type: "text", label: "f.buyer" },
    { name: "order", type: "text", label: "f.order" },
  ],
};

export class Invalid extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

function labelled(field, control) {
  return el("label", { class: "field" }, el("span", { text: t(field.label) }), control);
}

function locationSelect(id, lists, required) {
  const select = el("select", { id, name: id, required });
  select.append(el("option", { value: "", text: required ? "—" : t("f.none") }));
  for (const loc of lists.locations) {
    select.append(el("option", { value: String(loc.id), text: `${loc.name} · ${loc.kind}` }));
  }
  return select;
}

function productSelect(id, lists) {
  const select = el("select", { id, name: id });
  select.append(el("option", { value: "", text: "—" }));
  for (const p of lists.products) {
    select.append(el("option", { value: p.gtin, text: `${p.name} · ${p.gtin}` }));
  }
  return select;
}

/** Render the form of ``step`` into ``root``; returns {collect, addCode}. */
export function renderForm(step, root, ctx) {
  root.replaceChildren();
  const items = []; // {kind: "lot", gtin, lot} | {kind: "container", sscc}
  const fields = FIELDS[step];
  const itemField = fields.find((f) => f.type === "items");
  let list = null;
  let codeError = null;

  function drawItems() {
    list.replaceChildren();
    items.forEach((item, i) => {
      const text = item.kind === "lot" ? `${item.gtin} / ${item.lot}` : `${t("k.container")} ${item.sscc}`;
      const row = el("li", { class: "item", "data-kind": item.kind }, el("span", { class: "code", text }));
      if (item.kind === "lot" && !itemField.single) {
        const qty = el("input", {
          type: "number",
          inputmode: "decimal",
          min: "0",
          step: "any",
          placeholder: t("f.quantity"),
          class: "qty",
          value: item.quantity ?? "",
          oninput: (e) => {
            item.quantity = e.target.value;
          },
        });
        row.append(qty);
      }
      row.append(
        el("button", {
          type: "button",
          class: "ghost small",
          text: "✕",
          "aria-label": t("f.remove"),
          onclick: () => {
            items.splice(i, 1);
            drawItems();
          },
        }),
      );
      list.append(row);
    });
  }

  /** A code from the camera, the text box or the lot picker. */
  function addCode(raw) {
    const code = parseCode(raw);
    codeError.textContent = "";
    if (code.kind === "invalid") {
      codeError.textContent = t(`v.${code.reason}`);
      return false;
    }
    if (itemField) {
      if (code.kind === "lot") {
        if (itemField.single) items.length = 0;
        if (!items.some((i) => i.kind === "lot" && i.gtin === code.gtin && i.lot === code.lot)) {
          items.push({ kind: "lot", gtin: code.gtin, lot: code.lot });
        }
      } else if (code.kind === "container" && !itemField.lotsOnly) {
        if (!items.some((i) => i.kind === "container" && i.sscc === code.sscc)) items.push(code);
      } else if (code.kind === "container" && root.querySelector("#f-parent")) {
        root.querySelector("#f-parent").value = code.sscc;
      } else {
        codeError.textContent = t(code.kind === "container" ? "v.need_lot" : "v.code");
        return false;
      }
      drawItems();
      return true;
    }
    if (code.kind === "lot" && root.querySelector("#f-lot")) {
      root.querySelector("#f-gtin").value = code.gtin;
      root.querySelector("#f-lot").value = code.lot;
      fillOrg(code.gtin);
      return true;
    }
    if (code.kind === "container" && root.querySelector("#f-parent")) {
      root.querySelector("#f-parent").value = code.sscc;
      return true;
    }
    codeError.textContent = t("v.code");
    return false;
  }

  function fillOrg(gtin) {
    const org = root.querySelector("#f-org_id");
    const product = ctx.lists.products.find((p) => p.gtin === gtin);
    if (org && product && !org.value) org.value = product.org_id;
  }

  function codeRow() {
    const input = el("input", { id: "code", placeholder: t("f.code"), autocomplete: "off", autocapitalize: "off" });
    const add = () => {
      if (addCode(input.value)) input.value = "";
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        add();
      }
    });
    return el(
      "div",
      { class: "coderow" },
      el("button", { type: "button", id: "scan", class: "primary", text: t("f.scan"), onclick: () => ctx.scan(addCode) }),
      input,
      el("button", { type: "button", id: "add-code", text: t("f.add"), onclick: add }),
    );
  }

  for (const f of fields) {
    const id = `f-${f.name}`;
    if (f.type === "items") {
      list = el("ul", { id: "items", class: "items" });
      const picker = el("select", {
        id: "lot-picker",
        onchange: (e) => {
          if (e.target.value) addCode(e.target.value);
          e.target.value = "";
        },
      });
      picker.append(el("option", { value: "", text: t("f.pick_lot") }));
      for (const lot of ctx.lists.lots) {
        picker.append(el("option", { value: lot.uri, text: `${lot.lot} · ${lot.gtin}` }));
      }
      codeError = el("p", { class: "error", id: "code-error" });
      root.append(
        el("div", { class: "field" }, el("span", { text: t("f.items") }), codeRow(), codeError, picker, list),
      );
    } else if (f.type === "lotcode") {
      codeError = el("p", { class: "error", id: "code-error" });
      const gtin = productSelect("f-gtin-pick", ctx.lists);
      const gtinText = el("input", { id: "f-gtin", inputmode: "numeric", required: true, placeholder: "GTIN-14" });
      gtin.addEventListener("change", () => {
        gtinText.value = gtin.value;
        fillOrg(gtin.value);
      });
      root.append(
        el("div", { class: "field" }, el("span", { text: t("f.lotcode") }), codeRow(), codeError),
        labelled({ label: "f.product" }, gtin),
        labelled({ label: "f.gtin" }, gtinText),
        labelled({ label: "f.lot" }, el("input", { id: "f-lot", required: true, autocapitalize: "off" })),
      );
    } else if (f.type === "container") {
      if (!codeError) {
        codeError = el("p", { class: "error", id: "code-error" });
        root.append(el("div", { class: "field" }, codeRow(), codeError));
      }
      root.append(labelled(f, el("input", { id, inputmode: "numeric", required: f.required, placeholder: "SSCC" })));
    } else if (f.type === "location") {
      root.append(labelled(f, locationSelect(id, ctx.lists, f.required)));
    } else if (f.type === "product") {
      const select = productSelect(id, ctx.lists);
      root.append(labelled(f, select));
    } else if (f.type === "select") {
      const select = el("select", { id });
      for (const o of f.options) select.append(el("option", { value: o, text: t(f.prefix + o) }));
      root.append(labelled(f, select));
    } else if (f.type === "check") {
      root.append(
        el("label", { class: "check" }, el("input", { id, type: "checkbox", checked: f.value }), el("span", { text: t(f.label) })),
      );
    } else {
      const input = el("input", {
        id,
        type: f.type === "number" ? "number" : f.type === "date" ? "date" : "text",
        inputmode: f.type === "number" ? "decimal" : undefined,
        step: f.type === "number" ? "any" : undefined,
        value: f.value,
        required: f.required,
      });
      root.append(labelled(f, input));
    }
  }
  root.append(labelled({ label: "f.note" }, el("input", { id: "f-note", autocomplete: "off" })));
  if (list) drawItems();

  function val(name) {
    const node = root.querySelector(`#f-${name}`);
    if (!node) return undefined;
    if (node.type === "checkbox") return node.checked;
    const v = node.value.trim();
    return v === "" ? undefined : v;
  }
  function need(name) {
    const v = val(name);
    if (v === undefined) throw new Invalid(name, `${t(FIELDS[step].find((f) => f.name === name)?.label || `f.${name}`)}: ${t("v.required")}`);
    return v;
  }
  const num = (v) => (v === undefined ? undefined : Number(v));
  const id = (v) => (v === undefined ? undefined : /^\d+$/.test(v) ? Number(v) : v);
  function lotsOf() {
    return items
      .filter((i) => i.kind === "lot")
      .map((i) => {
        const out = { gtin: i.gtin, lot: i.lot };
        if (i.quantity !== undefined && i.quantity !== "") {
          out.quantity = Number(i.quantity);
          out.unit = "KGM";
        }
        return out;
      });
  }
  function clean(body) {
    for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
    return body;
  }

  function collect() {
    const note = val("note");
    let body;
    let summary;
    if (step === "harvest") {
      const gtin = need("gtin");
      const lot = need("lot");
      body = {
        gtin,
        lot,
        org_id: id(need("org_id")),
        quantity: num(need("quantity")),
        unit: need("unit"),
        location_id: id(val("location_id")),
        produced_on: val("produced_on"),
        origin_base_id: id(val("origin_base_id")),
      };
      summary = [`${gtin} / ${lot}`, `${body.quantity} ${body.unit}`];
    } else if (step === "process") {
      const inputs = lotsOf();
      if (!inputs.length) throw new Invalid("items", t("v.lots"));
      const output = {
        gtin: need("output_gtin"),
        lot: need("output_lot"),
        quantity: num(need("quantity")),
        unit: need("unit"),
      };
      body = { inputs, output, process: val("process"), location_id: id(val("location_id")) };
      summary = [...inputs.map((i) => `${i.gtin} / ${i.lot}`), `→ ${output.gtin} / ${output.lot}`];
    } else if (step === "pack") {
      const lots = lotsOf();
      if (!lots.length) throw new Invalid("items", t("v.lots"));
      const parent = parseCode(need("parent"));
      if (parent.kind !== "container") throw new Invalid("parent", t("v.need_container"));
      body = { lots, parent: parent.sscc, location_id: id(val("location_id")) };
      summary = [...lots.map((i) => `${i.gtin} / ${i.lot}`), `→ ${parent.sscc}`];
    } else if (step === "test") {
      const [lot] = lotsOf();
      if (!lot) throw new Invalid("items", t("v.lots"));
      const value = num(val("value"));
      const result = clean({
        test: val("test"),
        value,
        unit: val("unit"),
        limit: num(val("limit")),
        passed: value === undefined ? val("passed") : undefined,
        method: val("method"),
      });
      body = { lot: { gtin: lot.gtin, lot: lot.lot }, results: [result], location_id: id(val("location_id")) };
      summary = [`${lot.gtin} / ${lot.lot}`, result.test];
    } else {
      const lots = lotsOf();
      const containers = items.filter((i) => i.kind === "container").map((i) => i.sscc);
      if (!lots.length && !containers.length) throw new Invalid("items", t("v.items"));
      const location = val("location_id");
      if (step !== "sell" && location === undefined) need("location_id");
      body = { location_id: id(location) };
      if (lots.length) body.lots = lots;
      if (containers.length) body.containers = containers;
      if (step === "load") body.destination_id = id(val("destination_id"));
      if (step === "receive") body.source_id = id(val("source_id"));
      if (step === "sell") Object.assign(body, { buyer: val("buyer"), order: val("order") });
      summary = [...lots.map((i) => `${i.gtin} / ${i.lot}`), ...containers.map((c) => `SSCC ${c}`)];
    }
    body.note = note;
    return { body: clean(body), summary };
  }

  return { collect, addCode };
}
