// Package store runs the store package's tests compiled to js/wasm,
// under Node: they take as long as those of all the other core packages
// (tests/wasmcore), and apart each package stays well within Go's time
// limit.
package store

import (
	"testing"

	"github.com/factlog/factlog/tests/internal/e2e"
)

func TestStoreInWasm(t *testing.T) { e2e.GoTestWasm(t, "./wasm/store") }
