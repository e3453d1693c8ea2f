// Package proptest sets how many cases the property tests (pgregory.net/rapid)
// of a package run by default.
package proptest

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

// Main runs m with rapid checking `checks` cases per property (`short`
// with -short), unless -rapid.checks says otherwise. Call it from TestMain.
func Main(m *testing.M, checks, short int) {
	flag.Parse()
	f := flag.Lookup("rapid.checks")
	set := false
	flag.Visit(func(v *flag.Flag) { set = set || v == f })
	if f != nil && !set {
		n := checks
		if testing.Short() {
			n = short
		}
		f.Value.Set(fmt.Sprint(n))
	}
	os.Exit(m.Run())
}
