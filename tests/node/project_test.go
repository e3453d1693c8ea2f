package node

import (
	"encoding/json"
	"fmt"
	"github.com/factlog/factlog/tests/internal/e2e"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// tarball packs the npm package (dist/npm) once per test run, as it would
// be published, and returns its path.
func tarball(t *testing.T, npm string) string {
	t.Helper()
	d := e2e.Dist(t)
	packOnce.Do(func() {
		dir, err := os.MkdirTemp("", "factlog-pack-")
		if err != nil {
			packOnce.err = err
			return
		}
		cmd := exec.Command(npm, "pack", filepath.Join(d, "npm"), "--pack-destination", dir, "--json")
		cmd.Dir = dir
		out, err := cmd.Output()
		var packed []struct {
			Filename string `json:"filename"`
		}
		if err == nil {
			err = json.Unmarshal(out, &packed)
		}
		if err == nil && len(packed) != 1 {
			err = fmt.Errorf("npm pack made %d packages", len(packed))
		}
		if err != nil {
			packOnce.err = fmt.Errorf("npm pack: %v\n%s", err, out)
			return
		}
		packOnce.path = filepath.Join(dir, packed[0].Filename)
	})
	if packOnce.err != nil {
		t.Fatal(packOnce.err)
	}
	return packOnce.path
}

var packOnce struct {
	sync.Once
	path string
	err  error
}

// project makes a throwaway npm project that depends on the built package,
// the way a user installs it (from the tarball npm would publish), and copies the given test files into it.
// With ws, it also depends on the ws package (from the repository's
// node_modules, so that no network is needed), as a Node 20 user who
// links to a relay does.
func project(t *testing.T, ws bool, files ...string) string {
	t.Helper()
	npm := e2e.Need(t, "npm", "install npm")
	dir := t.TempDir()
	deps := map[string]string{"factlog": "file:" + tarball(t, npm)}
	if ws {
		wsDir := filepath.Join(e2e.Root, "node_modules", "ws")
		if _, err := os.Stat(wsDir); err != nil {
			t.Fatalf("%s is missing: run npm ci at the repository's top (.ci/run does)", wsDir)
		}
		deps["ws"] = "file:" + wsDir
	}
	pkg, _ := json.Marshal(map[string]any{"name": "factlog-test", "private": true, "type": "module", "dependencies": deps})
	if err := os.WriteFile(filepath.Join(dir, "package.json"), pkg, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(npm, "install", "--no-audit", "--no-fund", "--offline")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install: %v\n%s", err, out)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(e2e.Root, "tests", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
