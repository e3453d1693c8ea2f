package node

import (
	"context"
	"github.com/factlog/factlog/tests/internal/e2e"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNodeAPI runs the JavaScript API's tests (tests/node/api.test.mjs,
// node:test) against dist/ installed as the npm package "factlog".
func TestNodeAPI(t *testing.T) {
	node := e2e.Need(t, "node", "install Node 20+")
	nodeTest(t, node, project(t, true, "node/api.test.mjs", "node/inputs.test.mjs"), nil, "api.test.mjs", "inputs.test.mjs")
}

// TestNodeLink links stores in Node 20 (no global WebSocket) to a relay
// that is down, and to one that stops and starts again.
func TestNodeLink(t *testing.T) {
	node := e2e.Need(t, "node", "install Node 20+")
	rel := newSwitchedRelay(t)
	env := []string{"FACTLOG_RELAY=ws://" + rel.addr, "FACTLOG_CONTROL=" + rel.control(), "FACTLOG_DEAD=ws://" + deadAddr(t)}
	nodeTest(t, node, project(t, true, "node/link.test.mjs"), env, "link.test.mjs")
}

// TestNodeLock: one writer per store file across Node processes, and a
// holder killed with -9 wedges nothing and loses no acknowledged append.
func TestNodeLock(t *testing.T) {
	node := e2e.Need(t, "node", "install Node 20+")
	nodeTest(t, node, project(t, false, "node/lock.test.mjs", "node/holder.mjs"), nil, "lock.test.mjs")
}

// TestNodeWithoutWebSocket: without the ws package, connect says what to
// install.
func TestNodeWithoutWebSocket(t *testing.T) {
	node := e2e.Need(t, "node", "install Node 20+")
	nodeTest(t, node, project(t, false, "node/nows.test.mjs"), nil, "nows.test.mjs")
}

// TestNodeUncaughtError: an uncaught FactlogError prints what it says and
// where, in a few lines. Node shows the source line an error comes from,
// and a minified line of the package was thousands of characters.
func TestNodeUncaughtError(t *testing.T) {
	node := e2e.Need(t, "node", "install Node 20+")
	dir := project(t, false, "node/uncaught.mjs")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "uncaught.mjs")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); !ok {
		t.Fatalf("node uncaught.mjs: %v, want it to exit with the error\n%s", err, out)
	}
	if !strings.Contains(string(out), "FactlogError") || !strings.Contains(string(out), "code: 'SQL'") {
		t.Fatalf("node uncaught.mjs printed no FactlogError with its code:\n%s", out)
	}
	const maxLine, maxOut = 500, 3000
	for _, line := range strings.Split(string(out), "\n") {
		if len(line) > maxLine {
			t.Errorf("a line of %d characters (at most %d): %.200s…", len(line), maxLine, line)
		}
	}
	if len(out) > maxOut {
		t.Errorf("%d bytes printed (at most %d):\n%.4000s", len(out), maxOut, out)
	}
}

// nodeTest runs node --test on files in dir, within a bound.
func nodeTest(t *testing.T, node, dir string, env []string, files ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{"--test", "--test-reporter=spec"}, files...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("node --test %v: %v", files, err)
	}
}

// TestTypes type-checks a program against factlog.d.ts, strictly, the
// way a TypeScript user's project resolves the package.
func TestTypes(t *testing.T) {
	tsc := e2e.Need(t, filepath.Join(e2e.Root, "node_modules", ".bin", "tsc"), "run npm ci at the repository's top")
	dir := project(t, false, "node/types.test.ts")
	cmd := exec.Command(tsc, "--noEmit", "--strict", "--module", "nodenext", "--moduleResolution", "nodenext",
		"--target", "es2022", "--lib", "es2022,dom", "types.test.ts")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tsc: %v\n%s", err, out)
	}
}
