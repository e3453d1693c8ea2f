// runtime.js starts factlog.wasm in Go's WebAssembly runtime (Go's own
// wasm_exec.js, bundled in by the build). It runs in the Worker in
// browsers and in-process in Node. The Go side of this protocol is
// wasm/js/main_js.go and wasm/jsapi.
import "go:wasm_exec";

/**
 * @param {WebAssembly.Module} module
 * @param {(kind: string, key: number, json: string) => void} notify
 * @param {(key: number) => unknown} webSocket the WebSocket constructor for a link
 * @returns {Promise<{
 *   call: (method: string, args: string, bytes: Uint8Array|undefined, id: number) => Promise<[string, Uint8Array|null]>,
 *   cancel: (id: number) => void,
 *   exited: Promise<void>,
 * }>} exited settles when the Go program ends (it never should).
 */
export async function start(module, notify, webSocket) {
  const go = new globalThis.Go();
  // A call's promise is made here, and Go settles it by its ticket: a
  // promise made by Go cost each call a callback into Go from inside the
  // Promise constructor, a tenth of an append in Node.
  const waiting = new Map(); // ticket → [resolve, reject]
  let tickets = 0;
  const booted = new Promise((resolve) => {
    const boot = (api) => resolve(api);
    boot.notify = notify;
    boot.webSocket = webSocket;
    boot.settle = (ticket, error, json, bytes) => {
      const [resolve, reject] = waiting.get(ticket);
      waiting.delete(ticket);
      if (error) reject(error);
      else resolve([json, bytes]);
    };
    globalThis.__factlogBoot = boot;
  });
  const instance = await WebAssembly.instantiate(module, go.importObject);
  const exited = go.run(instance).then(() => {});
  const api = await Promise.race([
    booted,
    exited.then(() => {
      throw new Error("factlog.wasm exited before it started");
    }),
  ]);
  delete globalThis.__factlogBoot;
  // The locks of a program that ended are stale (wasm/jsvfs/lockfile.go):
  // a new engine in this process may take its stores over.
  exited.then(() => globalThis.process?.[Symbol.for("factlog.engines")]?.delete(api.token));
  const call = (method, args, bytes, id) =>
    new Promise((resolve, reject) => {
      const ticket = ++tickets;
      waiting.set(ticket, [resolve, reject]);
      api.call(method, args, bytes, id, ticket);
    });
  return { call, cancel: api.cancel, exited };
}
