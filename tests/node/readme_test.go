package node

import (
	"context"
	"fmt"
	"github.com/factlog/factlog/tests/internal/e2e"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestReadmeSnippets runs every ```js block of README.md, as it is, as a
// program in a project that installed the built package (and ws, for
// Node 20): a quick start that does not run is a bug.
func TestReadmeSnippets(t *testing.T) {
	node := e2e.Need(t, "node", "install Node 20+")
	readme, err := os.ReadFile(filepath.Join(e2e.Root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```js\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) < 2 {
		t.Fatalf("README.md has %d js blocks; the quick start and the errors are two", len(blocks))
	}
	dir := project(t, true)
	rel := newSwitchedRelay(t)
	for i, b := range blocks {
		name := fmt.Sprintf("snippet%d.mjs", i+1)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b[1]), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, node, name)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "FACTLOG_RELAY=ws://"+rel.addr+"/v1/rooms/readme")
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("README.md's js block %d (%s…) fails: %v\n%s", i+1, strings.SplitN(b[1], "\n", 2)[0], err, out)
		}
		t.Logf("block %d:\n%s", i+1, out)
		for _, want := range map[int][]string{
			0: {"make pasta", "buy basil", "[ 'create', 'set_completed' ]", "link: closed"},
			1: {"INVALID_ARGUMENT append: item is an object", "INVALID_ARGUMENT append: the value is NaN", "1 parameter(s) and 0 value(s)", "SQL "},
		}[i] {
			if !strings.Contains(string(out), want) {
				t.Errorf("README.md's js block %d printed no %q", i+1, want)
			}
		}
	}
}
