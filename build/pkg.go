package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
)

// pkg is dist/npm/package.json. A struct, not a map: the fields keep this
// order, and in "exports" the order of conditions matters — the first that
// applies wins: "node" before "default", and in each "types" first, or
// TypeScript never sees it.
type pkg struct {
	Name                 string                     `json:"name"`
	Version              string                     `json:"version"`
	Description          string                     `json:"description"`
	License              string                     `json:"license"`
	Type                 string                     `json:"type"`
	Main                 string                     `json:"main"`    // for resolvers that ignore "exports": Node's build
	Browser              string                     `json:"browser"` // for bundlers that ignore "exports": the browsers' build
	Types                string                     `json:"types"`
	Exports              exports                    `json:"exports"`
	Files                []string                   `json:"files"`
	SideEffects          []string                   `json:"sideEffects"`
	Engines              map[string]string          `json:"engines"`
	PeerDependencies     map[string]string          `json:"peerDependencies"`
	PeerDependenciesMeta map[string]map[string]bool `json:"peerDependenciesMeta"`
}

type exports struct {
	Root struct {
		Node    entry `json:"node"`    // node.js: the engine in-process
		Default entry `json:"default"` // factlog.js: browsers, bundlers for them, and the rest
	} `json:".:"`
	Wasm   string `json:"./factlog.wasm"`
	Worker string `json:"./worker.js"`
}

type entry struct {
	Types   string `json:"types"`
	Default string `json:"default"`
}

// writePackage writes dist/npm/package.json (the library, and nothing of
// the demo), and a README that says how to install the package.
func writePackage(top, npm string) error {
	p := pkg{
		Name:        "factlog",
		Version:     "0.1.0",
		Description: "An event log that is a CRDT, replayed into SQLite, in the browser and in Node.",
		License:     "MIT",
		Type:        "module",
		Main:        "./node.js",
		Browser:     "./factlog.js",
		Types:       "./factlog.d.ts",
		Files:       []string{"factlog.js", "node.js", "worker.js", "chunk-*.js", "*.js.map", "factlog.d.ts", "factlog.wasm", "README.md"},
		// node.js installs the Node engine as it loads: a bundler that
		// dropped it for exporting nothing of its own would leave none.
		SideEffects: []string{"./node.js"},
		Engines:     map[string]string{"node": ">=20"},
		// Node 20 has no WebSocket; connect uses ws when it is installed.
		PeerDependencies:     map[string]string{"ws": ">=8"},
		PeerDependenciesMeta: map[string]map[string]bool{"ws": {"optional": true}},
	}
	p.Exports.Root.Node = entry{Types: "./factlog.d.ts", Default: "./node.js"}
	p.Exports.Root.Default = entry{Types: "./factlog.d.ts", Default: "./factlog.js"}
	p.Exports.Wasm, p.Exports.Worker = "./factlog.wasm", "./worker.js"
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // ">=20", not "\u003e=20"
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		return err
	}
	out := strings.Replace(b.String(), `".:"`, `"."`, 1) // a tag cannot name a field "."
	if err := os.WriteFile(filepath.Join(npm, "package.json"), []byte(out), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(npm, "README.md"), []byte(packageReadme), 0o644)
}

const packageReadme = `# factlog

An event log that is a CRDT, replayed into SQLite — in the browser (a Web
Worker, the Origin Private File System, one store shared by every tab) and
in Node 20+ (in-process, a file per store).

` + "```js" + `
import { open } from "factlog";

const db = await open({
  name: "todos",
  schema: "CREATE TABLE todo (id TEXT PRIMARY KEY, content TEXT)",
  materializers: { create: "INSERT OR IGNORE INTO todo (id, content) VALUES (:item, :value)" },
});
await db.append("1", "create", "make pasta");
console.log(await db.query("SELECT * FROM todo"));
await db.close();
` + "```" + `

The API and its types are in factlog.d.ts; the project's README has the
tour. In Node 20, db.connect (live sync through a relay) needs the ws
package: npm install ws (Node 22 and browsers have a WebSocket).

In browsers, factlog.js starts worker.js and loads factlog.wasm from
beside itself (new URL("./worker.js", import.meta.url)). Bundled with
esbuild, copy factlog.wasm, worker.js and the chunk-*.js files beside the
bundle. Vite's build finds them; its dev server, up to Vite 7, needs
optimizeDeps: { exclude: ["factlog"] }.
`
