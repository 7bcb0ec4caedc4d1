// Package omniq_test holds repository-wide checks.
package omniq_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayering enforces the import arrows of docs/design.md: queue (the
// task vocabulary) and values (the rules for free-form values) import no
// project package, events only values, projections only events, stores (and
// storetest) only events and queue, the engine no concrete store, the
// worker pool only queue, the wire format only queue, the client only
// queue, wire, worker and values, the HTTP server only the engine, queue,
// wire, the store contract and memstat (never the client or a concrete
// store), and no store another store (storeurl, the one package that wires
// every backend, excepted). internal/apicheck, the OpenAPI checker of the
// HTTP tests, imports no project package and only tests import it. No
// package imports OpenTelemetry: tracing is the nested module otelomniq.
func TestLayering(t *testing.T) {
	const mod = "github.com/omniq/omniq"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := map[string]func(dep string) bool{
		mod + "/queue":             func(string) bool { return false },
		mod + "/values":            func(string) bool { return false },
		mod + "/internal/apicheck": func(string) bool { return false },
		mod + "/events":            func(d string) bool { return d == mod+"/values" },
		mod + "/projections":       func(d string) bool { return d == mod+"/events" },
		mod + "/stores":            func(d string) bool { return d == mod+"/events" || d == mod+"/queue" },
		mod + "/stores/storetest":  func(d string) bool { return d == mod+"/events" || d == mod+"/stores" },
		mod + "/engine": func(d string) bool {
			return d == mod+"/events" || d == mod+"/projections" || d == mod+"/stores" || d == mod+"/engine/archive" || d == mod+"/queue" || d == mod+"/worker"
		},
		mod + "/worker": func(d string) bool { return d == mod+"/queue" },
		mod + "/wire":   func(d string) bool { return d == mod+"/queue" },
		mod + "/client": func(d string) bool {
			return d == mod+"/queue" || d == mod+"/wire" || d == mod+"/values" || d == mod+"/worker"
		},
		mod + "/server": func(d string) bool {
			return d == mod+"/engine" || d == mod+"/queue" || d == mod+"/wire" || d == mod+"/stores" ||
				d == mod+"/internal/memstat"
		},
		mod + "/engine/archive": func(d string) bool {
			return d == mod+"/events" || d == mod+"/events/eventjson" || d == mod+"/stores"
		},
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, deps := fields[0], fields[1:]
		for _, d := range deps { // .Imports leaves out what only _test files import
			if d == mod+"/internal/apicheck" {
				t.Errorf("%s imports %s outside its tests", pkg, d)
			}
			if strings.HasPrefix(d, "go.opentelemetry.io/") {
				t.Errorf("%s must not import %s: tracing is the nested module otelomniq's", pkg, d)
			}
		}
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

// TestClientDoesNotLinkTheEngine: a program that talks to omniqd links none
// of the engine's machinery, not even through another package: not the
// engine, its projections or its stores, nor the store drivers and the cron
// parser they bring, nor the log's vocabulary (events) and its msgpack
// codec. The client speaks the vocabulary of package queue, which the
// engine re-exports, and normalizes free-form values as the log does with
// package values, which needs no codec.
func TestClientDoesNotLinkTheEngine(t *testing.T) {
	const client = "github.com/omniq/omniq/client"
	out, err := exec.Command("go", "list", "-deps", client).Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 || deps[len(deps)-1] != client {
		t.Fatalf("go list -deps listed %d packages, not ending with the client", len(deps))
	}
	forbidden := []string{
		"github.com/omniq/omniq/engine",
		"github.com/omniq/omniq/projections",
		"github.com/omniq/omniq/stores",
		"github.com/omniq/omniq/events",
		"github.com/hashicorp/go-msgpack",
		"github.com/robfig/cron",
		"github.com/cockroachdb/pebble",
		"github.com/jackc/pgx",
		"github.com/redis/go-redis",
		"github.com/nats-io/nats.go",
		"modernc.org/sqlite",
	}
	for _, dep := range deps {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("the client links %s", dep)
			}
		}
	}
}
