// The dispatcher console: logs in with the API's token (localStorage dh.token, shared
// with the other pages), draws the snapshot (/api/v1/logistics/console/snapshot), keeps
// it live from the stream, and reads the boards. Every text in both languages (T()).
(function () {
  "use strict";
  var root = document.getElementById("console");
  var API = root.getAttribute("data-api");
  var KEY = "dh.token";
  var S = {
    token: null, me: null, config: null, map: null, cluster: null, tiles: null,
    vehicles: {}, markers: {}, alarms: {}, alarmByVehicle: {}, stream: null, offset: 0,
    replay: null, replayLayer: null, replayMarker: null, playing: null,
  };
  var STATUS = {
    moving: ["行驶", "moving"], stopped: ["停车", "stopped"], offline: ["离线", "offline"],
  };
  var PLACE = {
    station: ["站", "服务站", "station"], cold_room: ["冷", "冷库", "cold room"],
    warehouse: ["仓", "仓库", "warehouse"], customer_site: ["客", "客户", "customer"],
    processing_site: ["加", "加工点", "processing site"],
  };
  var WAYBILL = {
    created: ["已创建", "created"], assigned: ["已派车", "assigned"], loaded: ["已装货", "loaded"],
    departed: ["已发车", "departed"], arrived: ["已到达", "arrived"],
    delivered: ["已签收", "delivered"], rejected: ["拒收", "rejected"],
    damaged: ["货损", "damaged"], returned: ["退回", "returned"],
  };
  var ALARM = {
    raised: ["新告警", "raised"], acknowledged: ["已确认", "acknowledged"],
    cleared: ["已解除", "cleared"],
  };

  function $(id) { return document.getElementById(id); }
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function T(zh, en) {
    return '<span class="zh">' + esc(zh) + '</span><span class="en" lang="en">' +
      esc(en == null ? zh : en) + "</span>";
  }
  function pair(table, key) { var p = table[key]; return p ? T(p[0], p[1]) : esc(key); }
  function fmtTime(ms) {
    if (ms == null) return "–";
    var d = new Date(ms + 8 * 3600 * 1000); // Beijing time
    var p = function (n) { return (n < 10 ? "0" : "") + n; };
    return p(d.getUTCMonth() + 1) + "-" + p(d.getUTCDate()) + " " + p(d.getUTCHours()) + ":" +
      p(d.getUTCMinutes()) + ":" + p(d.getUTCSeconds());
  }
  function fmtIso(s) { return s ? fmtTime(Date.parse(s)) : "–"; }
  function num(v, digits) { return v == null ? "–" : Number(v).toFixed(digits); }
  function now() { return Date.now() + S.offset; }

  // ------------------------------------------------------------------ API
  function api(path, opts) {
    opts = opts || {};
    var headers = Object.assign({ Authorization: "Bearer " + S.token }, opts.headers || {});
    return fetch(path, Object.assign({}, opts, { headers: headers, cache: "no-store" }))
      .then(function (r) {
        if (r.status === 401) { logout(); throw new Error("401"); }
        return r.json().then(function (body) {
          if (!r.ok) throw new Error((body && body.detail) || "HTTP " + r.status);
          return body;
        });
      });
  }

  // ------------------------------------------------------------------ login
  function showLogin(msg) {
    root.setAttribute("data-state", "login");
    $("login").hidden = false; $("app").hidden = true;
    $("login-error").innerHTML = msg || "";
  }
  function logout() {
    try { localStorage.removeItem(KEY); } catch (e) { /* private mode */ }
    S.token = null;
    if (S.stream) { S.stream.stop(); S.stream = null; }
    showLogin();
  }
  $("login-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var body = new URLSearchParams({ username: $("username").value, password: $("password").value });
    fetch("/api/v1/auth/token", { method: "POST", body: body }).then(function (r) {
      return r.json().then(function (b) {
        if (!r.ok) throw new Error(b.detail || "HTTP " + r.status);
        S.token = b.access_token;
        try { localStorage.setItem(KEY, S.token); } catch (e2) { /* private mode */ }
        start();
      });
    }).catch(function (err) {
      showLogin(T("登录失败：", "Login failed: ") + esc(err.message));
    });
  });
  $("logout").addEventListener("click", logout);

  function start() {
    api("/api/v1/auth/me").then(function (me) {
      S.me = me;
      return api(API + "/snapshot");
    }).then(function (snap) {
      root.setAttribute("data-state", "app");
      $("login").hidden = true; $("app").hidden = false;
      var n = (snap.county_names || {})[S.me.county];
      var county = S.me.county === "533100" ? T("德宏州 · 全部县市", "Dehong · all counties")
        : n ? T(n.zh, n.en) : esc(S.me.county);
      $("who").innerHTML = county + ' <span class="muted">' + esc(S.me.name) + "</span>";
      draw(snap);
      connect();
    }).catch(function (err) {
      if (err.message !== "401") showLogin(T("无法加载：", "Cannot load: ") + esc(err.message));
    });
  }

  // ------------------------------------------------------------------ map
  function toMap(lat, lon) {
    return S.config.tiles.gcj02 ? DhGcj02.wgs84ToGcj02(lat, lon) : [lat, lon];
  }
  function ensureMap() {
    if (S.map) return;
    var t = S.config.tiles;
    S.map = L.map("map", { zoomControl: true, preferCanvas: false }).setView([24.43, 98.58], 9);
    var o = { maxZoom: t.max_zoom, attribution: esc(t.attribution) };
    if (t.subdomains) o.subdomains = t.subdomains;
    L.tileLayer(t.url, o).addTo(S.map);
    if (t.overlay_url) L.tileLayer(t.overlay_url, o).addTo(S.map);
    S.cluster = L.markerClusterGroup({ chunkedLoading: true, maxClusterRadius: 45 });
    S.map.addLayer(S.cluster);
    S.placeLayer = L.layerGroup().addTo(S.map);
    S.fenceLayer = L.layerGroup().addTo(S.map);
  }
  function vehicleIcon(v) {
    var cls = "veh-icon " + v.status + (S.alarmByVehicle[v.device_id] ? " alarm" : "");
    return L.divIcon({ className: cls, iconSize: [18, 18] });
  }
  function plate(v) { return (v.fleet && v.fleet.plate) || v.device_id; }
  function popup(v) {
    var f = v.fix || {}, fl = v.fleet || {};
    return "<b>" + esc(plate(v)) + "</b><br>" + pair(STATUS, v.status) +
      " · " + num(f.speed_kmh, 0) + " km/h<br>" + T("冷机", "reefer") + " " + num(f.temp1, 1) +
      " °C<br>" + (fl.waybill ? T("运单", "waybill") + " " + esc(fl.waybill) + "<br>" : "") +
      T("定位", "fix") + " " + fmtTime(f.t);
  }
  function placeMarker(v) {
    var m = S.markers[v.device_id];
    if (!v.fix || v.fix.lat == null) { if (m) { S.cluster.removeLayer(m); delete S.markers[v.device_id]; } return; }
    var ll = toMap(v.fix.lat, v.fix.lon);
    if (!m) {
      m = L.marker(ll, { icon: vehicleIcon(v), title: plate(v) });
      m.bindTooltip(esc(plate(v)), { permanent: true, direction: "right", offset: [10, 0], className: "plate-tip" });
      m.bindPopup(popup(v));
      S.markers[v.device_id] = m;
      S.cluster.addLayer(m);
    } else {
      m.setLatLng(ll); m.setIcon(vehicleIcon(v)); m.setPopupContent(popup(v));
    }
    m.getElement && m.getElement() && m.getElement().setAttribute("data-device", v.device_id);
  }
  function status(v) {
    var f = v.fix;
    if (!f || f.t == null || now() - f.t > S.config.offline_after_s * 1000) return "offline";
    return f.speed_kmh != null && f.speed_kmh >= S.config.moving_kmh ? "moving" : "stopped";
  }

  function draw(snap) {
    S.config = snap.config;
    S.offset = snap.generated_at_ms - Date.now();
    ensureMap();
    S.vehicles = {};
    snap.vehicles.forEach(function (v) { S.vehicles[v.device_id] = v; });
    setAlarms(snap.alarms);
    Object.keys(S.vehicles).forEach(function (id) {
      var v = S.vehicles[id]; v.status = status(v); placeMarker(v);
    });
    drawPlaces(snap.places);
    drawFences(snap.geofences);
    renderVehicles();
    renderWaybills(snap.waybills);
    fit();
  }
  function fit() {
    var pts = [];
    Object.keys(S.vehicles).forEach(function (id) {
      var f = S.vehicles[id].fix; if (f && f.lat != null) pts.push(toMap(f.lat, f.lon));
    });
    (S.places || []).forEach(function (p) { if (p.lat != null) pts.push(toMap(p.lat, p.lon)); });
    if (pts.length) S.map.fitBounds(L.latLngBounds(pts).pad(0.25), { maxZoom: 12 });
  }
  function drawPlaces(places) {
    S.places = places; S.placeLayer.clearLayers();
    var unplaced = 0;
    places.forEach(function (p) {
      if (p.lat == null) { unplaced++; return; }
      var k = PLACE[p.kind] || ["?", p.kind, p.kind];
      L.marker(toMap(p.lat, p.lon), {
        icon: L.divIcon({ className: "place-icon", html: esc(k[0]), iconSize: [20, 20] }),
        title: p.name,
      }).bindTooltip(esc(p.name) + " · " + T(k[1], k[2])).addTo(S.placeLayer);
    });
    $("places-note").innerHTML = T("地图上的站点与冷库：", "Places on the map: ") +
      (places.length - unplaced) + (unplaced ? " · " + T(unplaced + " 个无坐标（未关联基地）", unplaced + " without coordinates (no base)") : "");
  }
  function drawFences(g) {
    S.fenceLayer.clearLayers();
    if (!g.connected) return;
    g.items.forEach(function (f) {
      var s = f.shape || {}, style = { color: "#7c3aed", weight: 1.5, fillOpacity: 0.06 };
      var layer = null;
      if (s.type === "circle") layer = L.circle(toMap(s.lat, s.lon), Object.assign({ radius: s.radius_m }, style));
      else if (s.type === "polygon") layer = L.polygon(s.points.map(function (p) { return toMap(p[0], p[1]); }), style);
      if (layer) layer.bindTooltip(esc(f.name)).addTo(S.fenceLayer);
    });
  }

  // ------------------------------------------------------------------ vehicles board
  var ORDER = { moving: 0, stopped: 1, offline: 2 };
  function renderVehicles() {
    var q = $("vehicle-filter").value.trim().toLowerCase();
    var rows = Object.keys(S.vehicles).map(function (k) { return S.vehicles[k]; })
      .filter(function (v) { return !q || (plate(v) + " " + v.device_id + " " + v.owner).toLowerCase().indexOf(q) >= 0; })
      .sort(function (a, b) {
        var aa = S.alarmByVehicle[a.device_id] ? -1 : 0, bb = S.alarmByVehicle[b.device_id] ? -1 : 0;
        return aa - bb || ORDER[a.status] - ORDER[b.status] || plate(a).localeCompare(plate(b));
      });
    var counts = { moving: 0, stopped: 0, offline: 0 };
    Object.keys(S.vehicles).forEach(function (k) { counts[S.vehicles[k].status]++; });
    $("n-moving").textContent = counts.moving; $("n-stopped").textContent = counts.stopped;
    $("n-offline").textContent = counts.offline;
    $("vehicles").tBodies[0].innerHTML = rows.map(function (v) {
      var f = v.fix || {}, fl = v.fleet || {};
      var out = f.temp1 != null && ((fl.temp_max_c != null && f.temp1 > fl.temp_max_c) || (fl.temp_min_c != null && f.temp1 < fl.temp_min_c));
      return '<tr data-device="' + esc(v.device_id) + '"><td><span class="plate">' + esc(plate(v)) +
        '</span><span class="sub">' + esc(fl.waybill ? fl.waybill : v.owner) + "</span></td>" +
        '<td><span class="st ' + v.status + '">' + pair(STATUS, v.status) + "</span>" +
        (S.alarmByVehicle[v.device_id] ? ' <span class="bad">⚠</span>' : "") + "</td>" +
        '<td class="mono">' + num(f.speed_kmh, 0) + " km/h</td>" +
        '<td class="mono' + (out ? " temp-out" : "") + '">' + (f.temp1 == null ? "–" : num(f.temp1, 1) + " °C") + "</td>" +
        '<td class="mono">' + fmtTime(f.t) + "</td></tr>";
    }).join("");
  }
  $("vehicle-filter").addEventListener("input", renderVehicles);
  $("vehicles").addEventListener("click", function (e) {
    var tr = e.target.closest("tr[data-device]"); if (!tr) return;
    var m = S.markers[tr.getAttribute("data-device")];
    if (m) S.cluster.zoomToShowLayer(m, function () { m.openPopup(); });
  });

  // ------------------------------------------------------------------ live
  function setLive(state, detail) {
    var txt = { live: ["实时", "live"], connecting: ["连接中", "connecting"], down: ["已断开，重连中", "reconnecting"] }[state] || [state, state];
    $("live").setAttribute("data-state", state);
    $("live-zh").textContent = txt[0]; $("live-en").textContent = txt[1];
    $("live").title = detail || "";
  }
  function connect() {
    if (S.stream) S.stream.stop();
    S.stream = DhSse.open(API + "/stream", {
      token: function () { return S.token; },
      onState: function (state, detail) {
        if (state === "unauthorized") { logout(); return; }
        setLive(state, detail);
      },
      onEvent: onEvent,
    });
  }
  function onEvent(name, data) {
    if (name === "snapshot") {
      S.offset = data.generated_at_ms - Date.now();
      data.vehicles.forEach(upsertVehicle);
      renderVehicles();
    } else if (name === "vehicle") {
      upsertVehicle(data); renderVehicles(); flash(data.device_id);
    } else if (name === "alarm") {
      upsertAlarm(data);
    } else if (name === "dropped" || name === "end") {
      setLive("down", data && data.reason);
    }
  }
  function upsertVehicle(data) {
    var v = S.vehicles[data.device_id];
    if (!v) { v = S.vehicles[data.device_id] = { device_id: data.device_id, county: data.county, owner: data.owner || "" }; }
    if (data.fix) v.fix = data.fix;
    if (data.owner) v.owner = data.owner;
    if (data.fleet) v.fleet = data.fleet;
    v.status = status(v);
    placeMarker(v);
  }
  function flash(id) {
    var tr = document.querySelector('#vehicles tr[data-device="' + CSS.escape(id) + '"]');
    if (tr) tr.classList.add("flash");
  }
  setInterval(function () {
    if (!S.config) return;
    var changed = false;
    Object.keys(S.vehicles).forEach(function (id) {
      var v = S.vehicles[id], s = status(v);
      if (s !== v.status) { v.status = s; placeMarker(v); changed = true; }
    });
    if (changed) renderVehicles();
  }, 5000);
  setInterval(function () { $("clock").textContent = fmtTime(now()); }, 1000);

  // ------------------------------------------------------------------ alarms
  function notConnected(el, what) {
    el.innerHTML = '<div class="nc"><strong>' + T("未接入", "Not connected") + "</strong>" +
      T(what[0] + "数据源尚未接入本平台，此处不显示任何数据。", "The " + what[1] + " source is not connected yet; nothing is shown.") + "</div>";
  }
  function setAlarms(a) {
    S.alarmsConnected = a.connected; S.alarms = {};
    (a.items || []).forEach(function (x) { S.alarms[String(x.id)] = x; });
    renderAlarms();
  }
  function upsertAlarm(a) {
    var key = String(a.id), old = S.alarms[key] || {};
    S.alarms[key] = Object.assign({}, old, a);
    S.alarmsConnected = true;
    renderAlarms();
  }
  function renderAlarms() {
    var el = $("alarms");
    S.alarmByVehicle = {};
    var list = Object.keys(S.alarms).map(function (k) { return S.alarms[k]; });
    var open = list.filter(function (a) { return a.state === "raised" || a.state === "acknowledged"; });
    open.forEach(function (a) { if (a.vehicle) S.alarmByVehicle[a.vehicle] = true; });
    $("n-alarms").textContent = S.alarmsConnected ? open.length : "–";
    var raised = list.filter(function (a) { return a.state === "raised"; }).length;
    $("tab-alarms").textContent = raised ? raised : "";
    if (!S.alarmsConnected) { notConnected(el, ["告警", "alarms"]); return; }
    var want = $("alarm-state").value;
    var shown = list.filter(function (a) {
      return want === "all" || (want === "open" ? (a.state === "raised" || a.state === "acknowledged") : a.state === want);
    }).sort(function (a, b) { return String(b.raised_at || "").localeCompare(String(a.raised_at || "")); });
    if (!shown.length) { el.innerHTML = '<p class="muted">' + T("没有告警", "No alarms") + "</p>"; return; }
    el.innerHTML = shown.map(function (a) {
      var ack = a.state === "raised"
        ? '<form data-alarm="' + esc(a.id) + '"><input name="comment" maxlength="500" placeholder="处理说明 · comment">' +
          '<button class="primary" type="submit">' + T("确认", "Acknowledge") + "</button></form>" : "";
      return '<div class="item ' + esc(a.state) + '" data-alarm="' + esc(a.id) + '"><div class="head"><span>' +
        esc(a.vehicle && S.vehicles[a.vehicle] ? plate(S.vehicles[a.vehicle]) : (a.subject || a.vehicle || "")) + "</span>" + '<span class="state">' + pair(ALARM, a.state) +
        (a.count > 1 ? " ×" + esc(a.count) : "") + "</span></div><div>" + esc(a.message || "") + "</div>" +
        '<div class="meta">' + T("发生", "raised") + " " + fmtIso(a.raised_at) +
        (a.acked_by ? " · " + T("确认人", "by") + " " + esc(a.acked_by) + " " + fmtIso(a.acked_at) : "") +
        (a.comment ? " · “" + esc(a.comment) + "”" : "") + "</div>" + ack + "</div>";
    }).join("");
    renderVehicles();
  }
  $("alarms").addEventListener("submit", function (e) {
    e.preventDefault();
    var form = e.target, id = form.getAttribute("data-alarm");
    form.querySelector("button").disabled = true;
    api(API + "/alarms/" + encodeURIComponent(id) + "/ack", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ comment: form.comment.value }),
    }).then(upsertAlarm).catch(function (err) {
      form.querySelector("button").disabled = false;
      alert(err.message);
    });
  });
  function loadAlarms() {
    api(API + "/alarms?state=" + encodeURIComponent($("alarm-state").value)).then(function (a) {
      if (!a.connected) { S.alarmsConnected = false; renderAlarms(); return; }
      S.alarmsConnected = true;
      a.items.forEach(function (x) { S.alarms[String(x.id)] = x; });
      renderAlarms();
    });
  }
  $("alarm-state").addEventListener("change", loadAlarms);

  // ------------------------------------------------------------------ waybills, capacity
  function renderWaybills(w) {
    var el = $("waybills");
    if (!w.connected) { notConnected(el, ["运单", "waybills"]); return; }
    if (!w.items.length) { el.innerHTML = '<p class="muted">' + T("没有符合条件的运单", "No waybills match") + "</p>"; return; }
    el.innerHTML = w.items.map(function (b) {
      return '<div class="item"><div class="head"><span>' + esc(b.number || b.id) + '</span><span class="state">' +
        pair(WAYBILL, b.state) + "</span></div><div>" + esc(b.origin || "–") + " → " + esc(b.destination || "–") +
        '</div><div class="meta">' + T("车辆", "vehicle") + " " + esc(b.plate || b.vehicle || "–") +
        " · " + T("更新", "updated") + " " + fmtIso(b.updated_at) + "</div></div>";
    }).join("");
  }
  function loadWaybills() {
    var p = new URLSearchParams();
    if ($("waybill-state").value) p.set("state", $("waybill-state").value);
    if ($("waybill-q").value.trim()) p.set("q", $("waybill-q").value.trim());
    api(API + "/waybills?" + p).then(renderWaybills);
  }
  $("waybill-state").addEventListener("change", loadWaybills);
  $("waybill-q").addEventListener("change", loadWaybills);
  function loadCapacity() {
    var day = $("capacity-day").value;
    api(API + "/capacity" + (day ? "?day=" + day : "")).then(function (c) {
      var el = $("capacity");
      if (!c.connected) { notConnected(el, ["运力", "capacity"]); return; }
      if (!$("capacity-day").value) $("capacity-day").value = c.day;
      el.innerHTML = '<table class="grid"><thead><tr><th>' + T("车辆", "Vehicle") + "</th><th>" + T("温区", "Temp class") +
        "</th><th>" + T("空余 kg", "Free kg") + "</th><th>" + T("空余 m³", "Free m³") + "</th></tr></thead><tbody>" +
        c.items.map(function (r) {
          return "<tr><td>" + esc(r.plate || r.vehicle) + "</td><td>" + esc(r.temp_class) + '</td><td class="mono">' +
            esc(r.free_kg == null ? "–" : r.free_kg) + " / " + esc(r.capacity_kg == null ? "–" : r.capacity_kg) +
            '</td><td class="mono">' + esc(r.free_m3 == null ? "–" : r.free_m3) + "</td></tr>";
        }).join("") + "</tbody></table>";
    });
  }
  $("capacity-day").addEventListener("change", loadCapacity);

  // ------------------------------------------------------------------ replay
  function tempColour(v, lo, hi) {
    if (v == null) return "#9aa39d";
    var x = hi > lo ? Math.max(0, Math.min(1, (v - lo) / (hi - lo))) : 0.5;
    var stops = [[37, 99, 235], [34, 197, 94], [234, 179, 8], [220, 38, 38]];
    var i = Math.min(2, Math.floor(x * 3)), f = x * 3 - i, a = stops[i], b = stops[i + 1];
    return "rgb(" + [0, 1, 2].map(function (k) { return Math.round(a[k] + (b[k] - a[k]) * f); }).join(",") + ")";
  }
  function loadTrips() {
    api(API + "/trips").then(function (t) {
      var sel = $("replay-trip");
      if (!t.connected) { sel.hidden = true; return; }
      sel.innerHTML = '<option value="">行程 · trip</option>' + t.items.map(function (x) {
        return '<option value="' + esc(x.id) + '">' + esc(x.id) + " · " + esc(x.plate || x.vehicle) + " · " + fmtIso(x.started_at) + "</option>";
      }).join("");
    });
  }
  $("replay-trip").addEventListener("change", function () { $("replay-id").value = $("replay-trip").value; });
  $("replay-load").addEventListener("click", function () {
    var id = $("replay-id").value.trim(); if (!id) return;
    api(API + "/trips/" + encodeURIComponent(id) + "/replay").then(showReplay).catch(function (err) {
      $("replay-info").innerHTML = esc(err.message);
    });
  });
  function showReplay(r) {
    stopPlay();
    S.replay = r;
    var temps = r.temp.filter(function (v) { return v != null; });
    var lo = r.temp_min_c != null ? r.temp_min_c : Math.min.apply(null, temps);
    var hi = r.temp_max_c != null ? r.temp_max_c : Math.max.apply(null, temps);
    r.lo = lo; r.hi = hi;
    if (S.replayLayer) S.map.removeLayer(S.replayLayer);
    S.replayLayer = L.layerGroup().addTo(S.map);
    var pts = r.lat.map(function (la, i) { return toMap(la, r.lon[i]); });
    for (var i = 1; i < pts.length; i++) {
      L.polyline([pts[i - 1], pts[i]], { color: tempColour(r.temp[i], lo, hi), weight: 5, opacity: 0.9 }).addTo(S.replayLayer);
    }
    S.replayMarker = L.circleMarker(pts[0], { radius: 8, color: "#111", weight: 2, fillColor: "#fff", fillOpacity: 1 }).addTo(S.replayLayer);
    if (pts.length) S.map.fitBounds(L.latLngBounds(pts).pad(0.15));
    $("replay-info").innerHTML = T("行程", "Trip") + " " + esc(r.trip_id || "") + " · " + esc(r.vehicle || "") + " · " +
      r.t.length + " " + T("个点", "points") + " · " + fmtTime(r.t[0]) + " – " + fmtTime(r.t[r.t.length - 1]);
    $("replay-controls").hidden = false; $("replay-legend").hidden = false;
    $("legend-lo").textContent = num(lo, 1) + " °C"; $("legend-hi").textContent = num(hi, 1) + " °C";
    $("replay-pos").max = String(Math.max(0, r.t.length - 1)); $("replay-pos").value = "0";
    chart(r); seek(0);
  }
  var CW = 440, CH = 190, PL = 34, PR = 8, PT = 10, PB = 22;
  function chart(r) {
    var t0 = r.t[0], t1 = r.t[r.t.length - 1] || t0 + 1;
    var temps = r.temp.filter(function (v) { return v != null; });
    var ymin = Math.min(r.lo, Math.min.apply(null, temps)) - 1, ymax = Math.max(r.hi, Math.max.apply(null, temps)) + 1;
    function x(t) { return PL + (t - t0) / Math.max(1, t1 - t0) * (CW - PL - PR); }
    function y(v) { return PT + (ymax - v) / (ymax - ymin) * (CH - PT - PB); }
    r.x = x;
    var path = "", pen = false;
    r.temp.forEach(function (v, i) {
      if (v == null) { pen = false; return; }
      path += (pen ? "L" : "M") + x(r.t[i]).toFixed(1) + "," + y(v).toFixed(1); pen = true;
    });
    var band = r.temp_min_c != null && r.temp_max_c != null
      ? '<rect class="band" x="' + PL + '" width="' + (CW - PL - PR) + '" y="' + y(r.temp_max_c) + '" height="' + (y(r.temp_min_c) - y(r.temp_max_c)) + '"/>' : "";
    var ticks = [ymin + 1, r.lo, r.hi, ymax - 1].filter(function (v, i, a) { return a.indexOf(v) === i; }).map(function (v) {
      return '<line class="axis" x1="' + PL + '" x2="' + (CW - PR) + '" y1="' + y(v) + '" y2="' + y(v) + '" stroke-opacity=".4"/><text x="2" y="' + (y(v) + 3) + '">' + v.toFixed(1) + "</text>";
    }).join("");
    $("replay-chart").innerHTML = '<svg viewBox="0 0 ' + CW + " " + CH + '" preserveAspectRatio="none" id="replay-svg">' + band + ticks +
      '<path class="line" d="' + path + '"/><text x="' + PL + '" y="' + (CH - 6) + '">' + fmtTime(t0) + '</text><text x="' + (CW - PR - 80) + '" y="' + (CH - 6) + '">' + fmtTime(t1) +
      '</text><line class="cursor" id="replay-cursor" x1="' + PL + '" x2="' + PL + '" y1="' + PT + '" y2="' + (CH - PB) + '"/>' +
      '<rect id="replay-hover" x="' + PL + '" y="0" width="' + (CW - PL - PR) + '" height="' + CH + '" fill="transparent"/></svg>';
    $("replay-hover").addEventListener("mousemove", function (e) {
      var box = $("replay-svg").getBoundingClientRect();
      var t = t0 + ((e.clientX - box.left) / box.width * CW - PL) / (CW - PL - PR) * (t1 - t0);
      seek(nearest(r.t, t));
    });
  }
  function nearest(ts, t) {
    var lo = 0, hi = ts.length - 1;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (ts[mid] < t) lo = mid + 1; else hi = mid; }
    if (lo > 0 && Math.abs(ts[lo - 1] - t) < Math.abs(ts[lo] - t)) lo--;
    return lo;
  }
  function seek(i) {
    var r = S.replay; if (!r) return;
    S.replayIndex = i;
    S.replayMarker.setLatLng(toMap(r.lat[i], r.lon[i]));
    S.replayMarker.setStyle({ fillColor: tempColour(r.temp[i], r.lo, r.hi) });
    var cx = r.x(r.t[i]).toFixed(1);
    $("replay-cursor").setAttribute("x1", cx); $("replay-cursor").setAttribute("x2", cx);
    $("replay-pos").value = String(i);
    $("replay-at").textContent = fmtTime(r.t[i]) + " · " + (r.temp[i] == null ? "–" : num(r.temp[i], 1) + " °C") +
      " · " + (r.speed[i] == null ? "–" : num(r.speed[i], 0) + " km/h");
    $("replay-at").setAttribute("data-index", String(i));
  }
  $("replay-pos").addEventListener("input", function () { seek(parseInt($("replay-pos").value, 10)); });
  function stopPlay() { if (S.playing) { clearInterval(S.playing); S.playing = null; } }
  $("replay-play").addEventListener("click", function () {
    if (S.playing) { stopPlay(); return; }
    var r = S.replay; if (!r) return;
    var step = Math.max(1, Math.round(r.t.length / 200));
    if (S.replayIndex >= r.t.length - 1) seek(0);
    S.playing = setInterval(function () {
      var i = Math.min(r.t.length - 1, S.replayIndex + step);
      seek(i);
      if (i >= r.t.length - 1) stopPlay();
    }, 50);
  });

  // ------------------------------------------------------------------ tabs
  var loaded = {};
  document.querySelector(".tabs").addEventListener("click", function (e) {
    var b = e.target.closest("button[data-tab]"); if (!b) return;
    var name = b.getAttribute("data-tab");
    document.querySelectorAll(".tabs button").forEach(function (x) { x.classList.toggle("on", x === b); });
    document.querySelectorAll(".panel").forEach(function (p) { p.classList.toggle("on", p.id === "panel-" + name); });
    if (name === "capacity") loadCapacity();
    if (name === "waybills" && loaded.waybills) loadWaybills();
    if (name === "replay" && !loaded.replay) loadTrips();
    loaded[name] = true;
    if (S.map) S.map.invalidateSize();
  });

  // ------------------------------------------------------------------ go
  try { S.token = localStorage.getItem(KEY); } catch (e) { S.token = null; }
  if (S.token) start(); else showLogin();
})();
