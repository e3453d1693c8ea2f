package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// root is the repository's top folder.
var root = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}()

// need returns the path of a command the test cannot run without (a name
// looked up in PATH, or a path). In CI a missing tool fails the test: CI
// must never pass by skipping.
func need(t *testing.T, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing; %s (.ci/run does)", name, install)
		}
		t.Skipf("%s is missing; %s (.ci/run does)", name, install)
	}
	return path
}
