package tests

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestNodeAPI runs the JavaScript API's tests (tests/node/api.test.mjs,
// node:test) against dist/ installed as the npm package "factlog".
func TestNodeAPI(t *testing.T) {
	node := need(t, "node", "install Node 20+")
	dir := project(t, "node/api.test.mjs")
	cmd := exec.Command(node, "--test", "--test-reporter=spec", "api.test.mjs")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("node --test: %v", err)
	}
}

// TestTypes type-checks a program against factlog.d.ts, strictly, the
// way a TypeScript user's project resolves the package.
func TestTypes(t *testing.T) {
	tsc := need(t, filepath.Join(root, "node_modules", ".bin", "tsc"), "run npm ci at the repository's top")
	dir := project(t, "node/types.test.ts")
	cmd := exec.Command(tsc, "--noEmit", "--strict", "--module", "nodenext", "--moduleResolution", "nodenext",
		"--target", "es2022", "--lib", "es2022,dom", "types.test.ts")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tsc: %v\n%s", err, out)
	}
}
