// The relay on Cloudflare: this shim routes /v1/rooms/{room} to one
// Durable Object per room, and each object runs the relay's Go room logic
// (relay.wasm, built by `go run ./build -cloudflare`) in a long-lived Go
// instance. WebSockets use the Hibernation API: an idle room is evicted
// and costs nothing; its sockets stay open, and the next message starts Go
// again, which finds them with getWebSockets().
import "./dist/wasm_exec.js";
import relayWasm from "./dist/relay.wasm";

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/healthz") return new Response("ok\n");
    const m = url.pathname.match(/^\/v1\/rooms\/([^/]+)$/);
    if (!m || request.method !== "GET") return new Response("not found: rooms are at GET /v1/rooms/{room}\n", { status: 404 });
    const stub = env.ROOMS.get(env.ROOMS.idFromName(decodeURIComponent(m[1])));
    return stub.fetch(request);
  },
};

export class Room {
  constructor(ctx, env) {
    // Worth a line in the logs: a start with sockets open is a wake from
    // hibernation (the tests look for it).
    console.log(`room object starting, ${ctx.getWebSockets().length} sockets open`);
    ctx.blockConcurrencyWhile(async () => {
      this.go = await startGo(ctx, env);
    });
  }

  async fetch(request) {
    const r = await this.go.fetch(request);
    if (r.webSocket) return new Response(null, { status: 101, webSocket: r.webSocket });
    return new Response(r.text, { status: r.status });
  }

  async webSocketMessage(ws, message) {
    await this.go.message(ws, message);
  }

  async webSocketClose(ws, code, reason) {
    await this.go.close(ws);
    try {
      ws.close(code === 1005 ? 1000 : code, reason); // complete the closing handshake
    } catch {}
  }

  async webSocketError(ws) {
    await this.go.close(ws);
  }

  // The alarm drives retention (RELAY_RETAIN_FOR, RELAY_RETAIN_BYTES) and
  // the join deadline (RELAY_JOIN_TIMEOUT); Go sets the next one.
  async alarm() {
    const note = await this.go.alarm();
    if (note) console.log(`room alarm: ${note}`);
  }
}

async function startGo(ctx, env) {
  const go = new globalThis.Go();
  const instance = await WebAssembly.instantiate(relayWasm, go.importObject);
  return new Promise((resolve, reject) => {
    // Set right before go.run, which reads it before it yields: objects
    // starting at once in one isolate do not mix their boot functions up.
    globalThis.__relayBoot = Object.assign((api) => (api.error ? reject(new Error(api.error)) : resolve(api)), { ctx, env });
    go.run(instance).then(() => reject(new Error("relay.wasm exited")));
  });
}
