// Browsers without ES modules (the oldest WeChat WebViews) cannot run the verifier:
// say so rather than leave "verifying..." for ever. Never says verified.
(function () {
  var b = document.getElementById("verify");
  if (!b) return;
  b.setAttribute("data-state", "unavailable");
  b.innerHTML = '<span class="zh">此浏览器无法验证记录</span><span class="en" lang="en">this browser cannot verify the records</span>';
  document.body.setAttribute("data-ready", "1");
})();
