package store_test

import (
	"os"
	"testing"

	"github.com/factlog/factlog/wasm/internal/proptest"
)

// TestMain runs the property tests on 1,000 cases (30 with -short, the
// WebAssembly run, which is 5–7 times slower), or,
// in a child process of TestKill9, the work to be killed.
func TestMain(m *testing.M) {
	if spec := os.Getenv(crashEnv); spec != "" {
		crashChild(spec)
	}
	proptest.Main(m, 1000, 30)
}
