package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
)

// pkg is dist/npm/package.json. A struct, not a map: the fields keep this
// order, and in "exports" a condition's order matters — "types" must come
// before "default", or TypeScript never sees it.
type pkg struct {
	Name                 string                     `json:"name"`
	Version              string                     `json:"version"`
	Description          string                     `json:"description"`
	License              string                     `json:"license"`
	Type                 string                     `json:"type"`
	Main                 string                     `json:"main"`
	Types                string                     `json:"types"`
	Exports              exports                    `json:"exports"`
	Files                []string                   `json:"files"`
	SideEffects          bool                       `json:"sideEffects"`
	Engines              map[string]string          `json:"engines"`
	PeerDependencies     map[string]string          `json:"peerDependencies"`
	PeerDependenciesMeta map[string]map[string]bool `json:"peerDependenciesMeta"`
}

type exports struct {
	Root struct {
		Types   string `json:"types"`
		Default string `json:"default"`
	} `json:".:"`
	Wasm   string `json:"./factlog.wasm"`
	Worker string `json:"./worker.js"`
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
		Main:        "./factlog.js",
		Types:       "./factlog.d.ts",
		Files:       []string{"factlog.js", "worker.js", "chunk-*.js", "*.js.map", "factlog.d.ts", "factlog.wasm", "README.md"},
		SideEffects: false,
		Engines:     map[string]string{"node": ">=20"},
		// Node 20 has no WebSocket; connect uses ws when it is installed.
		PeerDependencies:     map[string]string{"ws": ">=8"},
		PeerDependenciesMeta: map[string]map[string]bool{"ws": {"optional": true}},
	}
	p.Exports.Root.Types, p.Exports.Root.Default = "./factlog.d.ts", "./factlog.js"
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
`
