package store_test

import (
	"flag"
	"os"
	"testing"
)

// TestMain runs the property tests on 1,000 cases (100 with -short),
// unless -rapid.checks says otherwise.
func TestMain(m *testing.M) {
	flag.Parse()
	checks := flag.Lookup("rapid.checks")
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f == checks })
	if !set {
		n := "1000"
		if testing.Short() {
			n = "100"
		}
		checks.Value.Set(n)
	}
	os.Exit(m.Run())
}
