package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var distOnce struct {
	sync.Once
	dir string
	err error
	out []byte
}

// dist builds dist/ once per test run (go run ./build: the wasm only if a
// Go source changed) and returns its path.
func dist(t *testing.T) string {
	t.Helper()
	distOnce.Do(func() {
		cmd := exec.Command("go", "run", "./build")
		cmd.Dir = root
		distOnce.out, distOnce.err = cmd.CombinedOutput()
		distOnce.dir = filepath.Join(root, "dist")
	})
	if distOnce.err != nil {
		t.Fatalf("go run ./build: %v\n%s", distOnce.err, distOnce.out)
	}
	return distOnce.dir
}

// project makes a throwaway npm project that depends on the built package,
// the way a user installs it, and copies the given test files into it.
func project(t *testing.T, files ...string) string {
	t.Helper()
	d := dist(t)
	npm := need(t, "npm", "install npm")
	dir := t.TempDir()
	pkg := `{"name":"factlog-test","private":true,"type":"module","dependencies":{"factlog":"file:` + d + `"}}`
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(pkg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(npm, "install", "--no-audit", "--no-fund", "--offline")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install: %v\n%s", err, out)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, "tests", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
