// The shell's language switch: Chinese first; ?lang=en or the button switches, the
// choice is kept in localStorage. Runs in <head> (before first paint) and wires the
// button once the page is parsed.
(function () {
  "use strict";
  var KEY = "dh.lang";
  var root = document.documentElement;
  function set(lang) {
    root.setAttribute("data-lang", lang);
    root.setAttribute("lang", lang === "en" ? "en" : "zh-CN");
    try { localStorage.setItem(KEY, lang); } catch (e) { /* private mode */ }
  }
  var asked = /[?&]lang=(en|zh)\b/.exec(location.search);
  var kept = null;
  try { kept = localStorage.getItem(KEY); } catch (e) { /* private mode */ }
  set(asked ? asked[1] : kept === "en" ? "en" : "zh");
  document.addEventListener("DOMContentLoaded", function () {
    var b = document.getElementById("lang-switch");
    if (b) b.addEventListener("click", function () {
      set(root.getAttribute("data-lang") === "en" ? "zh" : "en");
    });
  });
})();
