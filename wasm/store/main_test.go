package store_test

import (
	"os"
	"testing"

	"github.com/factlog/factlog/wasm/internal/proptest"
)

// TestMain runs the property tests on 600 cases (30 with -short, the
// WebAssembly run, which is 5–7 times slower; 12,000 in the soak) — the
// differential test takes about 0.17 s a case, and the package must stay
// within about three minutes on an idle machine — or,
// in a child process of TestKill9, the work to be killed.
func TestMain(m *testing.M) {
	if spec := os.Getenv(crashEnv); spec != "" {
		crashChild(spec)
	}
	proptest.Main(m, 600, 30)
}
