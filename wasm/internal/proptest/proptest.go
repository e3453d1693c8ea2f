// Package proptest sets how many cases the property tests (pgregory.net/rapid)
// of a package run by default.
package proptest

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

// Soak reports whether the long sweeps run (FACTLOG_SOAK=1, the README's
// soak command): property tests check 20 times as many cases, and tests
// with sizes use their largest.
func Soak() bool { return os.Getenv("FACTLOG_SOAK") != "" }

// Main runs m with rapid checking `checks` cases per property (`short`
// with -short, 20 × checks when soaking), unless -rapid.checks says
// otherwise. Call it from TestMain.
func Main(m *testing.M, checks, short int) {
	flag.Parse()
	f := flag.Lookup("rapid.checks")
	set := false
	flag.Visit(func(v *flag.Flag) { set = set || v == f })
	if f != nil && !set {
		n := checks
		switch {
		case Soak():
			n = 20 * checks
		case testing.Short():
			n = short
		}
		f.Value.Set(fmt.Sprint(n))
	}
	os.Exit(m.Run())
}
