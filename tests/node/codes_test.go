package node

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/factlog/factlog/tests/internal/e2e"
	"github.com/factlog/factlog/wasm/jsapi"
	"github.com/factlog/factlog/wasm/store"
)

// TestErrorCodesDocumented: the README's table of error codes and the
// ErrorCode type of factlog.d.ts name exactly the codes a call can reject
// with — the store's, ABORTED, and the bridge's own UNAVAILABLE and
// UNSUPPORTED. An application that handles a documented code that is
// never produced waits for an error that never comes.
func TestErrorCodesDocumented(t *testing.T) {
	produced := []string{
		store.CodeInvalidEvent, store.CodeInvalidBatch, store.CodeMaterializer, store.CodeSchema, store.CodeSQL,
		store.CodeClosed, store.CodeArgument, store.CodeNoMemory, store.CodeLocked, store.CodeInternal,
		jsapi.CodeAborted, "UNAVAILABLE", "UNSUPPORTED",
	}
	slices.Sort(produced)
	read := func(path string) string {
		b, err := os.ReadFile(filepath.Join(e2e.Root, path))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	codes := func(re *regexp.Regexp, text string) []string {
		var out []string
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			for _, c := range regexp.MustCompile("`([A-Z_]+)`").FindAllStringSubmatch(m[1], -1) {
				out = append(out, c[1])
			}
			if len(m) > 2 && m[2] != "" {
				out = append(out, m[2])
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	// README: the rows "| `CODE`, `CODE` | meaning |" of its table.
	readme := codes(regexp.MustCompile("(?m)^\\| (`[A-Z_]+`(?:, `[A-Z_]+`)*) \\|"), read("README.md"))
	if !slices.Equal(readme, produced) {
		t.Errorf("README's error codes are %v; the codes calls reject with are %v", readme, produced)
	}
	dts := read("jsbridge/factlog.d.ts")
	union := regexp.MustCompile(`(?s)export type ErrorCode =(.*?"[A-Z_]+";)`).FindStringSubmatch(dts)
	if union == nil {
		t.Fatal("factlog.d.ts has no ErrorCode type")
	}
	var typed []string
	for _, m := range regexp.MustCompile(`\| "([A-Z_]+)"`).FindAllStringSubmatch(union[1], -1) {
		typed = append(typed, m[1])
	}
	slices.Sort(typed)
	if !slices.Equal(typed, produced) {
		t.Errorf("factlog.d.ts's ErrorCode is %v; the codes calls reject with are %v", typed, produced)
	}
}
