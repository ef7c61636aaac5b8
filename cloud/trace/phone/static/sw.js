// The phone page's service worker: the page shell (HTML, JS modules, CSS, jsQR) is
// cached at install, and served from the cache first, so the page opens with no
// network. API calls (/api/...) are not touched: the page's own outbox handles them.
// The server fills in the version (a digest of the shell) and the asset list: a new
// shell means a new cache, fetched anew, and the old one deleted.

const VERSION = "__VERSION__";
const CACHE = `dehong-trace-phone-${VERSION}`;
const SHELL = ["__SHELL__"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { cache: "reload" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) =>
        Promise.all(
          keys
            .filter((k) => k.startsWith("dehong-trace-phone-") && k !== CACHE)
            .map((k) => caches.delete(k)),
        ),
      )
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  const shell = url.pathname === "/m/trace" || url.pathname === "/m/trace/" || SHELL.includes(url.pathname);
  if (!shell) return;
  const key = url.pathname === "/m/trace/" ? "/m/trace" : url.pathname;
  event.respondWith(
    caches
      .open(CACHE)
      .then((cache) => cache.match(key))
      .then((hit) => hit || fetch(request)),
  );
});
