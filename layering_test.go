// Package omniq_test holds repository-wide checks.
package omniq_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayering enforces the import arrows of docs/design.md: events imports
// no project package, projections only events, stores (and storetest) only
// events, the engine no concrete store, and no store another store (storeurl,
// the one package that wires every backend, excepted).
func TestLayering(t *testing.T) {
	const mod = "github.com/omniq/omniq"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := map[string]func(dep string) bool{
		mod + "/events":           func(string) bool { return false },
		mod + "/projections":      func(d string) bool { return d == mod+"/events" },
		mod + "/stores":           func(d string) bool { return d == mod+"/events" },
		mod + "/stores/storetest": func(d string) bool { return d == mod+"/events" || d == mod+"/stores" },
		mod + "/engine": func(d string) bool {
			return d == mod+"/events" || d == mod+"/projections" || d == mod+"/stores" || d == mod+"/engine/archive"
		},
		mod + "/engine/archive": func(d string) bool {
			return d == mod+"/events" || d == mod+"/events/eventjson" || d == mod+"/stores"
		},
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, deps := fields[0], fields[1:]
		rule, ok := allowed[pkg]
		if !ok && strings.HasPrefix(pkg, mod+"/stores/") && pkg != mod+"/stores/storeurl" {
			// A backend may use the contract and the vocabulary, nothing else of ours.
			rule, ok = func(d string) bool { return d == mod+"/events" || d == mod+"/stores" }, true
		}
		if !ok {
			continue
		}
		checked++
		for _, d := range deps {
			if strings.HasPrefix(d, mod) && !rule(d) {
				t.Errorf("%s must not import %s", pkg, d)
			}
		}
	}
	if checked < 5 {
		t.Fatalf("checked only %d packages: is go list seeing the module?", checked)
	}
}
