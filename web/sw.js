// The demo's service worker: after a first visit the site works offline.
// Whatever the page fetches from its own origin is cached; the network is
// tried first (so a deploy is seen at once) and the cache answers when it
// fails. The data itself lives in the Origin Private File System.
const CACHE = "factlog-demo-v1";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (e) => e.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== "GET" || url.origin !== location.origin || url.pathname.startsWith("/v1/") || url.pathname.endsWith("/healthz")) {
    return; // the relay is live or nothing
  }
  e.respondWith(
    fetch(e.request)
      .then((res) => {
        if (res.ok) {
          const copy = res.clone();
          caches.open(CACHE).then((c) => c.put(e.request, copy));
        }
        return res;
      })
      .catch(() => caches.match(e.request, { ignoreSearch: true }).then((hit) => hit || Response.error())),
  );
});
