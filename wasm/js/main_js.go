//go:build js && wasm

// Command js is factlog compiled to WebAssembly: it binds package jsapi to
// JavaScript. The bridge (jsbridge/runtime.js) sets globalThis.__factlogBoot
// to a function with the properties notify(kind, key, json),
// webSocket(key) (the WebSocket constructor for a link) and
// settle(ticket, error, json, bytes) (a call's end), then runs this
// program, which calls the function with {call, cancel} and blocks
// forever, serving calls.
package main

import (
	"context"
	"strings"
	gosync "sync"
	"sync/atomic"
	"syscall/js"

	"github.com/factlog/factlog/wasm/internal/jsvalue"
	"github.com/factlog/factlog/wasm/jsapi"
	"github.com/factlog/factlog/wasm/jsvfs"
	"github.com/factlog/factlog/wasm/link"
	"github.com/factlog/factlog/wasm/store"
)

func main() {
	boot := js.Global().Get("__factlogBoot")
	host := &jsapi.Host{
		Storage: storage(),
		Notify: func(kind string, id int, json []byte) {
			jsvalue.Call(boot, "notify", kind, id, string(json))
		},
		Context: yieldingContext,
		Dial: func(key int) link.Dial {
			return link.WebSocketDial(func() js.Value {
				ws, _ := jsvalue.Call(boot, "webSocket", key)
				return ws
			})
		},
	}
	settle := boot.Get("settle")
	call := js.FuncOf(func(_ js.Value, args []js.Value) any {
		loopRan()
		serve(host, settle, args)
		return nil
	})
	cancel := js.FuncOf(func(_ js.Value, args []js.Value) any {
		loopRan()
		if len(args) > 0 && args[0].Type() == js.TypeNumber {
			host.Cancel(args[0].Int())
		}
		return nil
	})
	boot.Invoke(map[string]any{"call": call, "cancel": cancel, "token": jsvfs.EngineToken()})
	select {} // the Worker (or Node) keeps calling
}

// serve starts one call, call(method, argsJSON, bytes, id, ticket), and
// settles it with settle(ticket, error, json, bytes) when it ends;
// cancel(id) stops it. The call runs in a goroutine: it may await
// promises (OPFS), which cannot settle while this callback holds the
// event loop.
func serve(host *jsapi.Host, settle js.Value, args []js.Value) {
	arg := func(i int) js.Value {
		if i < len(args) {
			return args[i]
		}
		return js.Undefined()
	}
	method, argsJSON, id, ticket := arg(0), arg(1), 0, arg(4)
	if method.Type() != js.TypeString || argsJSON.Type() != js.TypeString {
		settle.Invoke(ticket, map[string]any{"code": store.CodeArgument, "message": "call(method, argsJSON, bytes, id, ticket) takes two strings"})
		return
	}
	var data []byte
	if b := arg(2); b.Type() == js.TypeObject && b.InstanceOf(uint8Array) {
		data = jsvalue.Bytes(b)
	}
	if n := arg(3); n.Type() == js.TypeNumber {
		id = n.Int()
	}
	run(func() {
		res, out, err := host.Call(context.Background(), id, method.String(), []byte(argsJSON.String()), data)
		if err != nil {
			e := err.(*jsapi.Error)
			settle.Invoke(ticket, map[string]any{"code": e.Code, "message": e.Message})
			return
		}
		var bytes any = js.Null()
		if out != nil {
			bytes = jsvalue.Array(out)
		}
		settle.Invoke(ticket, js.Null(), string(res), bytes)
	})
}

var uint8Array = js.Global().Get("Uint8Array")

// maxIdle is how many workers wait for calls between them.
const maxIdle = 4

var (
	calls = make(chan func()) // to a waiting worker
	idle  atomic.Int32        // workers waiting, or about to
)

// run runs a call in a worker goroutine: one that waits for a call if
// there is one, else a new one. A goroutine's stack starts small and
// grows by copying, frame by frame, each time a call goes deeper than it
// did; SQLite's calls go deep, and a new goroutine per call copied its
// stack several times — a tenth of an append in Node (BENCHMARKS.md). A
// worker keeps its stack from one call to the next, until the collector
// shrinks it.
func run(call func()) {
	select {
	case calls <- call:
	default:
		go work(call)
	}
}

// work runs call, then the calls run hands it, until maxIdle others wait.
func work(call func()) {
	for {
		call()
		if idle.Add(1) > maxIdle {
			idle.Add(-1)
			return
		}
		call = <-calls
		idle.Add(-1)
	}
}

// storage places named stores: files in Node, the Origin Private File
// System in a browser Worker, memory (with a warning) where neither is.
func storage() jsapi.Storage {
	if isNode() {
		dir, err := jsvfs.OpenNode()
		if err != nil {
			return func(string) (string, string, bool, string, error) { return "", "", false, "", err }
		}
		jsvfs.Register("factlog-node", dir)
		return func(name string) (string, string, bool, string, error) {
			return name, "factlog-node", true, "", nil
		}
	}
	var once gosync.Once
	var opfsErr error
	return func(name string) (string, string, bool, string, error) {
		once.Do(func() {
			dir, err := jsvfs.OpenOPFS("factlog")
			if err == nil {
				jsvfs.Register("factlog-opfs", dir)
			}
			opfsErr = err
		})
		if opfsErr != nil {
			return "", "", false, "not persisted, kept in memory: " + opfsErr.Error(), nil
		}
		if name == "" || len(name) > 200 || strings.ContainsAny(name, "/\\\x00") || strings.HasPrefix(name, ".") {
			return "", "", false, "", store.ArgumentError("a store name in the browser is a file name: 1 to 200 characters, no / or \\, not starting with a dot")
		}
		return name, "factlog-opfs", true, "", nil
	}
}

// isNode tells Node from a browser. (wasm_exec.js defines a stub
// globalThis.process in browsers, so process alone does not tell.)
func isNode() bool {
	versions := js.Global().Get("process").Get("versions")
	return versions.Type() == js.TypeObject && versions.Get("node").Type() == js.TypeString
}
