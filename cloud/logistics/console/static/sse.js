// Server-Sent Events over fetch(): EventSource cannot send the Authorization header,
// and a token in the URL would land in access logs; this reads the same text/event-stream
// with the page's bearer token. Reconnects after `retry` ms unless stopped.
(function (root) {
  "use strict";
  function parse(block) {
    var ev = { event: "message", data: "", id: null, comment: false };
    var lines = block.split("\n"), data = [];
    for (var i = 0; i < lines.length; i++) {
      var line = lines[i];
      if (!line) continue;
      if (line.charAt(0) === ":") { ev.comment = true; continue; }
      var k = line.indexOf(":"), field = k < 0 ? line : line.slice(0, k);
      var value = k < 0 ? "" : line.slice(k + 1).replace(/^ /, "");
      if (field === "event") ev.event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") ev.id = value;
      else if (field === "retry") ev.retry = parseInt(value, 10);
    }
    ev.data = data.join("\n");
    return ev;
  }

  // open(url, {token(): string, onEvent(name, data), onState(state, detail)}) -> {stop()}
  function open(url, opts) {
    var stopped = false, retry = 3000, controller = null, timer = null;
    function again(reason) {
      if (stopped) return;
      opts.onState("down", reason);
      timer = setTimeout(connect, retry);
    }
    function connect() {
      if (stopped) return;
      controller = new AbortController();
      opts.onState("connecting");
      fetch(url, {
        headers: { Authorization: "Bearer " + opts.token(), Accept: "text/event-stream" },
        cache: "no-store",
        signal: controller.signal,
      }).then(function (r) {
        if (r.status === 401) { opts.onState("unauthorized"); stopped = true; return; }
        if (!r.ok || !r.body) { again("HTTP " + r.status); return; }
        opts.onState("live");
        var reader = r.body.getReader(), decoder = new TextDecoder(), buf = "";
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) { again("closed"); return; }
            buf += decoder.decode(chunk.value, { stream: true }).replace(/\r\n?/g, "\n");
            var cut;
            while ((cut = buf.indexOf("\n\n")) >= 0) {
              var ev = parse(buf.slice(0, cut));
              buf = buf.slice(cut + 2);
              if (ev.retry) retry = ev.retry;
              if (ev.comment && !ev.data) { opts.onEvent("heartbeat", null); continue; }
              var payload = null;
              try { payload = ev.data ? JSON.parse(ev.data) : null; } catch (e) { continue; }
              opts.onEvent(ev.event, payload);
            }
            return pump();
          });
        }
        return pump();
      }).catch(function (e) {
        if (!stopped) again(String(e && e.message || e));
      });
    }
    connect();
    return {
      stop: function () {
        stopped = true;
        if (timer) clearTimeout(timer);
        if (controller) controller.abort();
      },
    };
  }
  root.DhSse = { open: open, parse: parse };
})(window);
