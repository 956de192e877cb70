// The civpass service worker: keeps the app's shell (HTML, script, styles, icons, language
// catalogs) for use offline. It never stores API answers: they carry personal data, and login
// requests must be live. The server names the cache after the shell's content.
const CACHE = "civpass-shell-__CIVPASS_CACHE_VERSION__";
const SHELL = [
  "/app/", "/app/shared.js", "/app/app.js", "/app/app.css", "/app/manifest.webmanifest", "/app/icon.svg",
  "/app/icon-192.png", "/app/i18n/en.json", "/app/i18n/zh-HK.json", "/app/i18n/zh-CN.json",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("civpass-shell-") && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  // Only the shell is ever served from the cache; everything else goes to the network.
  if (request.mode === "navigate" && url.pathname.startsWith("/app/")) {
    event.respondWith(fetch(request).catch(() => caches.match("/app/")));
    return;
  }
  if (SHELL.includes(url.pathname)) {
    event.respondWith(
      fetch(request)
        .then((response) => {
          if (response.ok) {
            const copy = response.clone();
            caches.open(CACHE).then((cache) => cache.put(url.pathname, copy));
          }
          return response;
        })
        .catch(() => caches.match(url.pathname)),
    );
  }
});
