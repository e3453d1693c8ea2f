package wasmcore

import (
	"github.com/factlog/factlog/tests/internal/e2e"
	"os/exec"
	"testing"
)

// TestFuzzBriefly runs every decoder's fuzz test for 20,000 inputs (a few
// seconds), on top of the seed corpora that `go test` always runs: a
// decoder that panics or accepts a non-canonical input on new input fails
// the run. (A count rather than a duration: a fuzzer stopped by the clock
// while it minimizes an input reports a spurious "context deadline
// exceeded" on a busy machine.)
func TestFuzzBriefly(t *testing.T) {
	fuzztime := "20000x"
	if testing.Short() {
		fuzztime = "2000x"
	}
	for _, f := range []struct{ pkg, name string }{
		{"./wasm/sync", "FuzzDecode"},
		{"./wasm/event", "FuzzDecode"},
		{"./wasm/event", "FuzzCanonicalValue"},
		{"./wasm/lww", "FuzzDecodeState"},
		{"./relay/protocol", "FuzzDecode"},
	} {
		t.Run(f.pkg[2:]+"/"+f.name, func(t *testing.T) {
			cmd := exec.Command("go", "test", "-run", "^$", "-fuzz", "^"+f.name+"$", "-fuzztime", fuzztime, "-parallel", "1", f.pkg)
			cmd.Dir = e2e.Root
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}
