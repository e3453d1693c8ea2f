package tests

import (
	"os/exec"
	"testing"
)

// TestFuzzBriefly runs every decoder's fuzz test for a few seconds, on top
// of the seed corpora that `go test` always runs: a decoder that panics or
// accepts a non-canonical input on new input fails the run.
func TestFuzzBriefly(t *testing.T) {
	fuzztime := "4s"
	if testing.Short() {
		fuzztime = "1s"
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
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}
