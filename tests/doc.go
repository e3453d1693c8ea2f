// Package tests holds factlog's end-to-end tests: the core packages
// compiled to js/wasm and run under Node, the JavaScript bridge against the
// built dist/, and the demo in headless Chromium. `go test ./...` runs them
// with everything else.
//
// A tool a test needs (Node, Chromium) that is missing fails the test when
// CI is set, and skips it with a message otherwise.
package tests
