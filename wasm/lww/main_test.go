package lww

import (
	"testing"

	"github.com/factlog/factlog/wasm/internal/proptest"
)

// TestMain runs the property tests on 1,000 cases (100 with -short).
func TestMain(m *testing.M) { proptest.Main(m, 1000, 100) }
