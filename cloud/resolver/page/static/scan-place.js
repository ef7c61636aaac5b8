// Opt-in: the shopper may share the city they scanned in (cloud/resolver/scans). The
// browser's position is sent once, for this scan only (its token), and the server
// keeps the prefecture-level city, never the position. Nothing is asked unless the
// button is pressed.
const button = document.querySelector("#share-place");
const state = document.querySelector("#share-place-state");

function say(zh, en) {
  if (!state) return;
  const a = document.createElement("span");
  a.className = "zh";
  a.textContent = zh;
  const b = document.createElement("span");
  b.className = "en";
  b.lang = "en";
  b.textContent = en;
  state.replaceChildren(a, b);
}

if (button && navigator.geolocation) {
  button.hidden = false;
  button.addEventListener("click", () => {
    button.disabled = true;
    say("正在获取位置…", "locating…");
    navigator.geolocation.getCurrentPosition(
      async (pos) => {
        try {
          const r = await fetch(`/api/v1/public/scans/${encodeURIComponent(button.dataset.scan)}/place`, {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ lat: pos.coords.latitude, lon: pos.coords.longitude }),
          });
          if (r.ok) {
            const city = await r.json();
            say(`已记录城市：${city.name}，谢谢`, `city recorded: ${city.name}, thank you`);
          } else {
            say("未能记录位置", "the place was not recorded");
          }
        } catch {
          say("网络错误", "network error");
        }
      },
      () => {
        button.disabled = false;
        say("未获得位置权限", "no permission to locate");
      },
      { enableHighAccuracy: false, maximumAge: 600000, timeout: 15000 },
    );
  });
}
