package audit_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestForbiddenImports keeps the layering of docs/design.md: audit wires
// no concrete store, and eventjson, under events, imports nothing of the
// project but events.
func TestForbiddenImports(t *testing.T) {
	const mod = "github.com/omniq/omniq/"
	cases := []struct {
		dir     string
		allowed func(path string) bool
	}{
		{".", func(p string) bool {
			return !strings.HasPrefix(p, mod) || p == mod+"engine" || p == mod+"projections" ||
				p == mod+"events" || p == mod+"events/eventjson" || p == mod+"stores"
		}},
		{"../../events/eventjson", func(p string) bool {
			return !strings.Contains(p, ".") || p == mod+"events"
		}},
	}
	for _, c := range cases {
		files, err := filepath.Glob(filepath.Join(c.dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in %s: %v", c.dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range ast.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if !c.allowed(p) {
					t.Errorf("%s imports %s", f, p)
				}
			}
		}
	}
}
