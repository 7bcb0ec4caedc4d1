package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
)

func init() {
	commands["version"] = command{
		summary: "print omniqd's version and the Go version it was built with (also omniqd --version)",
		usage:   "",
		about: `The version is the module version omniqd was built at; a build from a
working tree says "devel", with the VCS revision and "+dirty" when the tree
had uncommitted changes. GET /healthz answers the same version.`,
		run: runVersion,
	}
}

func runVersion(_ context.Context, args []string) error {
	if _, err := parseArgs(newFlagSet("version"), args, argSpec{}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "omniqd %s %s %s/%s\n", version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

// version is omniqd's version: the main module's version when the binary
// was built from a module version, else "devel" followed by the VCS
// revision (its first 12 characters) and "+dirty" for a modified tree, when
// the build recorded them.
var version = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return versionOf(bi)
})

// versionOf is version from bi.
func versionOf(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	v := "devel"
	var revision string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if revision != "" {
		v += "-" + revision[:min(len(revision), 12)]
	}
	if modified {
		v += "+dirty"
	}
	return v
}
