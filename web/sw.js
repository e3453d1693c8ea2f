// The demo's service worker: once it is installed — during the first
// visit — the site works offline. It caches the site's files when it
// installs (the build writes their names in FILES) and whatever else the
// page fetches from its own origin; the network is tried first (so a
// deploy is seen at once) and the cache answers when it fails. The data
// itself lives in the Origin Private File System.
const CACHE = "factlog-demo-v1";
const FILES = []; // the build lists the site's files here

self.addEventListener("install", (e) => e.waitUntil(precache().finally(() => self.skipWaiting())));
self.addEventListener("activate", (e) => e.waitUntil(forgetOld().then(() => self.clients.claim())));

// Each file on its own: one that fails to load (a deploy in progress)
// leaves the others cached, and is cached when the page fetches it.
async function precache() {
  const cache = await caches.open(CACHE);
  await Promise.all(FILES.map((f) => cache.add(f).catch((err) => console.warn("not cached for offline use:", f, err.message))));
}

// A deploy renames its chunks (their names are hashes): drop the files of
// earlier builds, which no page of this build asks for.
async function forgetOld() {
  if (FILES.length === 0) return;
  const keep = new Set(FILES.map((f) => new URL(f, self.registration.scope).pathname));
  const cache = await caches.open(CACHE);
  for (const req of await cache.keys()) {
    if (!keep.has(new URL(req.url).pathname)) await cache.delete(req);
  }
}

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
