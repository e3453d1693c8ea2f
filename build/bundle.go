package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/evanw/esbuild/pkg/api"
)

// bundle builds the bridge's entry points — factlog.js, what users
// import (node.js in Node: the same API with the engine in-process), and
// worker.js, what factlog.js starts in browsers — as ES modules that share
// chunks (engine.js and the API, one instance of each; runtime.js with
// Go's wasm_exec.js): into out/npm for the npm package, and, without
// node.js, into out with the demo site when web/ exists.
func bundle(top, out string) error {
	lib := []string{"jsbridge/factlog.js", "jsbridge/worker.js"}
	if err := esbuild(top, filepath.Join(out, "npm"), append(lib, "jsbridge/node.js")); err != nil {
		return err
	}
	site := lib
	if _, err := os.Stat(filepath.Join(top, "web", "app.js")); err == nil {
		site = append(site, "web/app.js")
	}
	if err := esbuild(top, out, site); err != nil {
		return err
	}
	// What earlier builds put in the site that is the package's now.
	os.Remove(filepath.Join(out, "package.json"))
	os.Remove(filepath.Join(out, "factlog.d.ts"))
	return copyStatic(top, out)
}

func esbuild(top, out string, entries []string) error {
	// Chunk names carry hashes: clear the last build's, or they pile up.
	old, _ := filepath.Glob(filepath.Join(out, "*.js*"))
	for _, f := range old {
		os.Remove(f)
	}
	res := api.Build(api.BuildOptions{
		AbsWorkingDir:    top,
		EntryPoints:      entries,
		Outdir:           out,
		Outbase:          ".",
		EntryNames:       "[name]",
		ChunkNames:       "chunk-[hash]",
		Bundle:           true,
		Splitting:        true,
		Format:           api.FormatESModule,
		Platform:         api.PlatformNeutral,
		Target:           api.ES2022,
		External:         []string{"node:*"},
		MinifySyntax:     true,
		MinifyWhitespace: true,
		Sourcemap:        api.SourceMapLinked,
		LegalComments:    api.LegalCommentsEndOfFile,
		Write:            true,
		LogLevel:         api.LogLevelSilent,
		Plugins:          []api.Plugin{goRuntime},
		// The demo imports the library by its package name, as an
		// application does; here it resolves to the source.
		Alias:             map[string]string{"factlog": "./jsbridge/factlog.js"},
		MainFields:        []string{"module", "main"},
		ResolveExtensions: []string{".js"},
		// Node prints the source line an uncaught error comes from, and a
		// minified line was the whole bundle. Lines of about 200
		// characters cost 3% more JavaScript after brotli (420 bytes).
		LineLimit: 200,
	})
	var msgs []string
	for _, m := range append(res.Errors, res.Warnings...) {
		loc := ""
		if m.Location != nil {
			loc = fmt.Sprintf("%s:%d:%d: ", m.Location.File, m.Location.Line, m.Location.Column)
		}
		msgs = append(msgs, loc+m.Text)
	}
	if len(msgs) > 0 {
		return errors.New("esbuild: " + strings.Join(msgs, "\n"))
	}
	return nil
}

// goRuntime resolves "go:wasm_exec" to the wasm_exec.js of the Go that
// compiles factlog.wasm: the two must match.
var goRuntime = api.Plugin{
	Name: "go-runtime",
	Setup: func(b api.PluginBuild) {
		b.OnResolve(api.OnResolveOptions{Filter: `^go:wasm_exec$`}, func(api.OnResolveArgs) (api.OnResolveResult, error) {
			return api.OnResolveResult{Path: filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js")}, nil
		})
	},
}

// copyStatic copies the files that need no bundling: the TypeScript types
// and the wasm into the package, and the demo's HTML, CSS, icons and
// service worker (a classic script, as service workers are most widely
// supported) into the site.
func copyStatic(top, out string) error {
	// The package's wasm is the site's, linked rather than copied.
	wasm := filepath.Join(out, "npm", "factlog.wasm")
	os.Remove(wasm)
	if err := os.Link(filepath.Join(out, "factlog.wasm"), wasm); err != nil {
		b, err := os.ReadFile(filepath.Join(out, "factlog.wasm"))
		if err == nil {
			err = os.WriteFile(wasm, b, 0o644)
		}
		if err != nil {
			return err
		}
	}
	files := map[string]string{"jsbridge/factlog.d.ts": "npm/factlog.d.ts"}
	static, _ := filepath.Glob(filepath.Join(top, "web", "*"))
	for _, f := range static {
		switch filepath.Ext(f) {
		case ".html", ".css", ".svg", ".png", ".ico", ".webmanifest", ".json":
			rel, _ := filepath.Rel(top, f)
			files[rel] = filepath.Base(f)
		}
	}
	for from, to := range files {
		b, err := os.ReadFile(filepath.Join(top, from))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, to), b, 0o644); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(top, "web", "sw.js")); err == nil {
		return serviceWorker(top, out)
	}
	return nil
}

// filesMarker is the line of web/sw.js the build fills in.
const filesMarker = "const FILES = [];"

// serviceWorker writes the demo's service worker with the names of the
// site's files, which it caches when it installs: the site then works
// offline from the first visit, and a build whose chunks have new names
// is a new worker, which caches them.
func serviceWorker(top, out string) error {
	src, err := os.ReadFile(filepath.Join(top, "web", "sw.js"))
	if err != nil {
		return err
	}
	if !bytes.Contains(src, []byte(filesMarker)) {
		return fmt.Errorf("web/sw.js: the line %q, which the build fills in, is missing", filesMarker)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		return err
	}
	files := []string{"./"}
	for _, e := range entries {
		switch name := e.Name(); {
		case e.IsDir(), name == "sw.js", strings.HasPrefix(name, "."), strings.HasSuffix(name, ".map"), strings.HasSuffix(name, ".br"), strings.HasSuffix(name, ".gz"):
		default:
			files = append(files, name)
		}
	}
	list, err := json.Marshal(files)
	if err != nil {
		return err
	}
	src = bytes.Replace(src, []byte(filesMarker), []byte("const FILES = "+string(list)+";"), 1)
	return os.WriteFile(filepath.Join(out, "sw.js"), src, 0o644)
}
