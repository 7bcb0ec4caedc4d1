//go:build race

package main

// Under -race, the e2e binary is built with -race too: it then shares the
// test binary's compiled packages (only linking is left) and the daemon's
// own goroutines run under the detector.
func init() { e2eBuildFlags = append(e2eBuildFlags, "-race") }
