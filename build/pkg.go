package main

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// writePackage writes dist/package.json, so that `npm install ./dist` (or
// a tarball from `npm pack dist`) works in another project and bundlers
// resolve "factlog".
func writePackage(top, out string) error {
	pkg := map[string]any{
		"name":        "factlog",
		"version":     "0.1.0",
		"description": "An event log that is a CRDT, replayed into SQLite, in the browser and in Node.",
		"license":     "MIT",
		"type":        "module",
		"main":        "./factlog.js",
		"types":       "./factlog.d.ts",
		"exports": map[string]any{
			".": map[string]string{
				"types":   "./factlog.d.ts",
				"default": "./factlog.js",
			},
			"./factlog.wasm": "./factlog.wasm",
			"./worker.js":    "./worker.js",
		},
		"files":       []string{"*.js", "*.js.map", "factlog.d.ts", "factlog.wasm"},
		"sideEffects": false,
		"engines":     map[string]string{"node": ">=20"},
	}
	b, err := json.MarshalIndent(pkg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "package.json"), append(b, '\n'), 0o644)
}
