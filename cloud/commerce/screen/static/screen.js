// The wall screen: reads /api/v1/screen/data with a display key (#key=..., kept in
// localStorage) or a login's token (dh.token, shared with the other pages), draws every
// panel from the JSON as it is (the catalogue computed it), and polls. No library but
// the vendored Leaflet for the map; every asset is served by us.
(function () {
  "use strict";
  var root = document.getElementById("screen");
  var API = root.getAttribute("data-api");
  var COUNTY = root.getAttribute("data-county");
  var asked = /[?&]poll=(\d+)/.exec(location.search);  // a wall may poll more often (>= 2 s)
  var POLL = Math.max(2, Number(asked ? asked[1] : root.getAttribute("data-poll"))) * 1000;
  var KEY = "dh.screen.key", TOKEN = "dh.token";
  var COLORS = ["#36cfc9", "#ffd666", "#ff85c0", "#95de64", "#69c0ff", "#ffa940"];
  var S = { key: null, token: null, names: {}, map: null, markers: null, timer: null };

  function lang() { return document.documentElement.getAttribute("data-lang") === "en" ? "en" : "zh"; }
  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
  function svg(tag, attrs) { var e = document.createElementNS("http://www.w3.org/2000/svg", tag); for (var k in attrs) e.setAttribute(k, attrs[k]); return e; }
  function store(k, v) { try { if (v == null) localStorage.removeItem(k); else localStorage.setItem(k, v); } catch (e) { /* private mode */ } }
  function load(k) { try { return localStorage.getItem(k); } catch (e) { return null; } }

  function fmt(v, p) {
    if (v != null) v = Number(v);  // money comes as a decimal string
    if (v == null || isNaN(v)) return "–";
    if (p.unit === "percentunit") return (v * 100).toFixed(p.decimals) + "%";
    if (p.unit === "currencyCNY") {
      if (Math.abs(v) >= 1e8) return "¥" + (v / 1e8).toFixed(2) + (lang() === "zh" ? "亿" : "00M");
      if (Math.abs(v) >= 1e4) return "¥" + (v / 1e4).toFixed(1) + (lang() === "zh" ? "万" : "0k");
      return "¥" + v.toFixed(0);
    }
    var s = Number(v).toFixed(p.decimals);
    return p.unit === "celsius" ? s + " °C" : s;
  }
  //: the values the relational panels group by (waybill states, EPCIS steps, flag kinds)
  var WORDS = {
    created: "已创建", assigned: "已派车", loaded: "已装车", departed: "运输中", arrived: "已到达",
    delivered: "已签收", rejected: "拒收", damaged: "货损", returned: "退回",
    commissioning: "赋码", shipping: "发货", receiving: "收货", harvesting: "采收",
    packing: "包装", storing: "入库", too_many_scans: "扫码过多",
    impossible_travel: "异地扫码", outside_destinations: "销区外扫码"
  };
  function word(v) { return lang() === "zh" && WORDS[v] ? WORDS[v] : String(v); }
  function title(p) { return lang() === "en" ? p.title_en : p.title_zh; }
  function countyName(c) { var n = S.names[c]; return n ? n[lang()] : c; }
  function ago(ms, now) {
    var s = Math.max(0, Math.round((now - ms) / 1000));
    if (s < 90) return lang() === "en" ? s + " s ago" : s + " 秒前";
    if (s < 5400) return lang() === "en" ? Math.round(s / 60) + " min ago" : Math.round(s / 60) + " 分钟前";
    if (s < 172800) return lang() === "en" ? Math.round(s / 3600) + " h ago" : Math.round(s / 3600) + " 小时前";
    return lang() === "en" ? Math.round(s / 86400) + " d ago" : Math.round(s / 86400) + " 天前";
  }
  function freshness(card, p, now) {
    var f = el("div", "fresh");
    if (p.status === "not_connected") f.textContent = lang() === "en" ? "source not connected" : "数据源未接入";
    else if (p.status === "error") f.textContent = (lang() === "en" ? "source error: " : "数据源出错：") + p.error;
    else if (p.newest_ms == null) f.textContent = lang() === "en" ? "STALE: no data yet" : "数据陈旧：尚无数据";
    else f.textContent = (p.stale ? (lang() === "en" ? "STALE: last data " : "数据陈旧：最近数据 ") : (lang() === "en" ? "updated " : "数据更新于 ")) + ago(p.newest_ms, now);
    card.classList.toggle("stale", p.status === "ok" && p.stale);
    card.classList.toggle("error", p.status === "error");
    card.appendChild(f);
    card.setAttribute("data-status", p.status);
    card.setAttribute("data-stale", p.stale ? "1" : "0");
  }
  function head(card, p) { card.textContent = ""; card.appendChild(el("h2", null, title(p))); }
  function notConnected(card) { card.appendChild(el("div", "nc", lang() === "en" ? "Not connected" : "未接入")); }

  function statCard(p, main, now) {
    var card = el("article", "card stat" + (main ? " main" : ""));
    card.id = "p-" + p.id;
    head(card, p);
    if (p.status === "not_connected") notConnected(card);
    else card.appendChild(el("div", "big", fmt(p.value, p)));
    freshness(card, p, now);
    return card;
  }

  function canvas(card) {
    var W = Math.max(200, card.clientWidth - 20), H = Math.max(120, card.clientHeight - 86);
    var g = svg("svg", { "class": "chart", viewBox: "0 0 " + W + " " + H, width: W, height: H });
    g.W = W; g.H = H;
    return g;
  }

  function bars(card, p) {
    var rows = p.rows || [];
    var g = canvas(card), W = g.W, H = g.H;
    var label = function (r) {
      if (r.time != null) { var d = new Date(r.time + 8 * 3600e3); return (d.getUTCMonth() + 1) + "/" + d.getUTCDate(); }
      if (r.county != null) return countyName(r.county);
      for (var k in r) if (k !== "value") return word(r[k]);
      return "";
    };
    var max = Math.max.apply(null, rows.map(function (r) { return Number(r.value) || 0; }).concat([1]));
    var w = W / Math.max(rows.length, 1), base = H - 22, top = 22;
    rows.forEach(function (r, i) {
      var h = (Number(r.value) || 0) / max * (base - top);
      g.appendChild(svg("rect", { x: i * w + w * 0.18, y: base - h, width: w * 0.64, height: h, rx: 3, fill: COLORS[i % COLORS.length] }));
      var v = svg("text", { x: i * w + w / 2, y: base - h - 6, "text-anchor": "middle" }); v.textContent = fmt(r.value, p); g.appendChild(v);
      var t = svg("text", { x: i * w + w / 2, y: H - 4, "text-anchor": "middle" }); t.textContent = label(r); g.appendChild(t);
    });
    card.appendChild(g);
  }

  function lines(card, p) {
    var rows = p.rows || [];
    var series = {};
    rows.forEach(function (r) { var k = r.county || "all"; (series[k] = series[k] || []).push(r); });
    var ts = rows.map(function (r) { return r.time; }), vs = rows.map(function (r) { return Number(r.value); });
    var t0 = Math.min.apply(null, ts), t1 = Math.max.apply(null, ts);
    var v0 = Math.min.apply(null, vs), v1 = Math.max.apply(null, vs);
    if (!(t1 > t0)) t1 = t0 + 1; if (!(v1 > v0)) { v1 = v0 + 1; }
    var g = canvas(card), W = g.W, H = g.H;
    var X = function (t) { return 70 + (t - t0) / (t1 - t0) * (W - 80); }, Y = function (v) { return H - 24 - (v - v0) / (v1 - v0) * (H - 40); };
    [v0, v1].forEach(function (v) { var t = svg("text", { x: 0, y: Y(v) + 4 }); t.textContent = fmt(v, p); g.appendChild(t); });
    g.appendChild(svg("line", { x1: 70, x2: W - 10, y1: H - 24, y2: H - 24, stroke: "#2c4a63" }));
    [t0, t1].forEach(function (t, i) {
      var d = new Date(t + 8 * 3600e3), s = svg("text", { x: X(t), y: H - 6, "text-anchor": i ? "end" : "start" });
      s.textContent = (d.getUTCMonth() + 1) + "/" + d.getUTCDate() + " " + d.getUTCHours() + ":00"; g.appendChild(s);
    });
    var legend = el("div", "legend");
    Object.keys(series).forEach(function (k, i) {
      var pts = series[k].map(function (r) { return X(r.time).toFixed(1) + "," + Y(Number(r.value)).toFixed(1); }).join(" ");
      g.appendChild(svg("polyline", { points: pts, fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": 2.5 }));
      var s = el("span"); var sw = el("i"); sw.style.background = COLORS[i % COLORS.length]; s.appendChild(sw);
      s.appendChild(document.createTextNode(k === "all" ? title(p) : countyName(k))); legend.appendChild(s);
    });
    card.appendChild(legend);
    card.appendChild(g);
  }

  function table(card, p) {
    var t = el("table");
    (p.rows || []).forEach(function (r, i) {
      var tr = el("tr");
      tr.appendChild(el("td", null, String(i + 1)));
      tr.appendChild(el("td", null, r.product != null ? r.product : r.name));
      tr.appendChild(el("td", "n", fmt(r.value, p)));
      t.appendChild(tr);
    });
    card.appendChild(t);
  }

  function map(card, p) {
    var box = card.querySelector(".map");
    if (!box) {
      box = el("div", "map");
      card.insertBefore(box, card.firstChild);
    }
    if (!S.map && window.L) {
      S.map = L.map(box, { zoomControl: false, attributionControl: true }).setView([24.45, 98.3], 8);
      var opts = { attribution: root.getAttribute("data-tiles-attr") || "", maxZoom: 18 };
      var sub = root.getAttribute("data-tiles-sub"); if (sub) opts.subdomains = sub;
      L.tileLayer(root.getAttribute("data-tiles"), opts).addTo(S.map);
      S.markers = L.layerGroup().addTo(S.map);
    }
    if (!S.markers) return;
    S.markers.clearLayers();
    var gcj = root.getAttribute("data-tiles-gcj02") === "true";
    var pts = [];
    (p.rows || []).forEach(function (r) {
      var ll = gcj && window.DhGcj02 ? window.DhGcj02.wgs84ToGcj02(r.lat, r.lon) : [r.lat, r.lon];
      pts.push(ll);
      L.circleMarker(ll, { radius: 8, color: "#ffd666", weight: 2, fillColor: "#fa8c16", fillOpacity: 0.9 }).bindTooltip(r.device).addTo(S.markers);
    });
    S.map.invalidateSize();
    if (pts.length && !S.fitted) { S.map.fitBounds(pts, { padding: [60, 60], maxZoom: 10 }); S.fitted = true; }
  }

  function chartCard(p, now) {
    var card = document.getElementById("p-" + p.id);
    if (!card) return;
    if (p.kind === "geomap") {
      var keep = card.querySelector(".map");
      Array.prototype.slice.call(card.childNodes).forEach(function (n) { if (n !== keep) card.removeChild(n); });
      card.appendChild(el("h2", null, title(p) + " · " + (p.rows || []).length));
      map(card, p);
      freshness(card, p, now);
      return;
    }
    head(card, p);
    if (p.status === "not_connected") notConnected(card);
    else if (p.kind === "bar") bars(card, p);
    else if (p.kind === "timeseries") lines(card, p);
    else if (p.kind === "table") table(card, p);
    freshness(card, p, now);
  }

  function draw(body) {
    S.last = body;
    S.names = body.county_names || {};
    var now = body.generated_at_ms;
    root.setAttribute("data-state", "live");
    document.getElementById("grid").hidden = false;  // before drawing: charts measure their cards
    var stats = document.getElementById("stats");
    stats.textContent = "";
    body.panels.forEach(function (p) {
      if (p.kind === "stat") stats.appendChild(statCard(p, p.id === "sales_month", now));
      else chartCard(p, now);
    });
    root.setAttribute("data-generated", String(now));
  }

  function live(ok, text) {
    var l = document.getElementById("live");
    l.setAttribute("data-state", ok ? "ok" : "bad");
    document.getElementById("live-text").textContent = text;
  }

  function headers() {
    if (S.key) return { "X-API-Key": S.key };
    if (S.token) return { Authorization: "Bearer " + S.token };
    return null;
  }

  function poll() {
    var h = headers();
    if (!h) { root.setAttribute("data-state", "login"); return; }
    var url = API + "/data" + (COUNTY ? "?county=" + encodeURIComponent(COUNTY) : "");
    fetch(url, { headers: h, cache: "no-store" }).then(function (r) {
      if (r.status === 401) { S.key = null; S.token = null; store(KEY, null); root.setAttribute("data-state", "login"); throw new Error("401"); }
      if (!r.ok) throw new Error(String(r.status));
      return r.json();
    }).then(function (body) {
      draw(body);
      live(true, lang() === "en" ? "live" : "实时");
    }).catch(function (e) {
      live(false, (lang() === "en" ? "offline " : "连接中断 ") + e.message);
    }).then(function () {
      clearTimeout(S.timer);
      S.timer = setTimeout(poll, POLL);
    });
  }

  function clock() {
    var d = new Date(Date.now() + 8 * 3600e3);
    var p = function (n) { return (n < 10 ? "0" : "") + n; };
    document.getElementById("clock").textContent = d.getUTCFullYear() + "-" + p(d.getUTCMonth() + 1) + "-" + p(d.getUTCDate()) + " " + p(d.getUTCHours()) + ":" + p(d.getUTCMinutes()) + ":" + p(d.getUTCSeconds());
  }

  document.getElementById("login-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var body = new URLSearchParams();
    body.set("username", document.getElementById("username").value);
    body.set("password", document.getElementById("password").value);
    fetch("/api/v1/auth/token", { method: "POST", body: body }).then(function (r) {
      if (!r.ok) throw new Error(lang() === "en" ? "login refused" : "登录失败");
      return r.json();
    }).then(function (j) { S.token = j.access_token; store(TOKEN, S.token); poll(); })
      .catch(function (e) { document.getElementById("login-error").textContent = e.message; });
  });

  // lang.js switches data-lang; the panels are drawn from the data, so draw them again
  document.getElementById("lang-switch").addEventListener("click", function () {
    setTimeout(function () { if (S.last) draw(S.last); }, 0);
  });

  var m = /[#&]key=([^&]+)/.exec(location.hash);
  if (m) { S.key = decodeURIComponent(m[1]); store(KEY, S.key); history.replaceState(null, "", location.pathname + location.search); }
  else S.key = load(KEY);
  if (!S.key) S.token = load(TOKEN);
  clock(); setInterval(clock, 1000);
  poll();
})();
