package omniq_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// example is the body of an Example function, one line each, with the
// body's indentation (one tab) removed.
type example struct {
	name, file string
	lines      []string
}

// TestReadmeShowsExamples keeps README.md's Go code compiled and run: every
// ```go block of the README must be the body of an Example function in an
// example_test.go of the module, or a run of its lines, as it is (one tab of
// indentation less), and the README's text before the block must name that
// example and its file. go test compiles every example and runs those with
// an Output comment, so a block that stops compiling or saying the truth
// fails a test, and so does a block edited in the README alone.
func TestReadmeShowsExamples(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	examples := exampleBodies(t)
	if len(examples) == 0 {
		t.Fatal("no Example function in any example_test.go")
	}
	blocks := goBlocks(string(readme))
	if len(blocks) == 0 {
		t.Fatal("README.md has no ```go block")
	}
	for _, b := range blocks {
		var found []example
		for _, ex := range examples {
			if containsRun(ex.lines, b.lines) {
				found = append(found, ex)
			}
		}
		if len(found) == 0 {
			t.Errorf("README.md:%d: this ```go block is not in the body of any Example function of an example_test.go;\n"+
				"put the code in an example (go test compiles and runs it) and show its body, or a run of its lines, here as it is:\n%s",
				b.line, strings.Join(b.lines, "\n"))
			continue
		}
		named := false
		for _, ex := range found {
			if strings.Contains(b.before, ex.name) && strings.Contains(b.before, ex.file) {
				named = true
			}
		}
		if !named {
			t.Errorf("README.md:%d: the text before this ```go block must name the example it shows: %s in %s",
				b.line, found[0].name, found[0].file)
		}
	}
}

// block is a ```go block of a Markdown file.
type block struct {
	line   int      // of its first line of code
	lines  []string // its code
	before string   // the text since the previous code block ended
}

func goBlocks(md string) []block {
	var (
		blocks []block
		cur    *block
		inCode bool // in a code block of another language
		before strings.Builder
	)
	for i, l := range strings.Split(md, "\n") {
		fence := strings.HasPrefix(strings.TrimSpace(l), "```")
		switch {
		case cur != nil && fence:
			blocks = append(blocks, *cur)
			cur = nil
			before.Reset()
		case cur != nil:
			cur.lines = append(cur.lines, l)
		case inCode:
			if fence {
				inCode = false
				before.Reset()
			}
		case fence && strings.TrimSpace(l) == "```go":
			cur = &block{line: i + 2, before: before.String()}
		case fence:
			inCode = true
		default:
			before.WriteString(l)
			before.WriteByte('\n')
		}
	}
	return blocks
}

// exampleBodies parses every example_test.go of the module (not of modules
// nested in it).
func exampleBodies(t *testing.T) []example {
	t.Helper()
	var out []example
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); path != "." && err == nil {
				return filepath.SkipDir // a module of its own
			}
			return nil
		}
		if d.Name() != "example_test.go" {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || fn.Body == nil || !strings.HasPrefix(fn.Name.Name, "Example") {
				continue
			}
			body := string(src[fset.Position(fn.Body.Lbrace).Offset+1 : fset.Position(fn.Body.Rbrace).Offset])
			lines := strings.Split(strings.Trim(body, "\n"), "\n")
			for i, l := range lines {
				lines[i] = strings.TrimPrefix(l, "\t")
			}
			out = append(out, example{name: fn.Name.Name, file: filepath.ToSlash(path), lines: lines})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// containsRun reports whether sub occurs in lines as consecutive lines.
func containsRun(lines, sub []string) bool {
	if len(sub) == 0 {
		return false
	}
	for i := 0; i+len(sub) <= len(lines); i++ {
		match := true
		for j, l := range sub {
			if lines[i+j] != l {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// TestReadmeCheckCatchesDrift: a block edited away from its example, or one
// whose text does not name its example, is found.
func TestReadmeCheckCatchesDrift(t *testing.T) {
	ex := example{name: "ExampleX", file: "x/example_test.go", lines: []string{"a := 1", "if a > 0 {", "\tfmt.Println(a)", "}"}}
	md := "Intro.\n\n```sh\nmake test\n```\n\nThis is ExampleX in x/example_test.go:\n\n```go\nif a > 0 {\n\tfmt.Println(a)\n}\n```\n\nMore.\n\n```go\nif a > 1 {\n```\n"
	blocks := goBlocks(md)
	if len(blocks) != 2 {
		t.Fatalf("found %d go blocks, want 2", len(blocks))
	}
	if b := blocks[0]; b.line != 10 || !containsRun(ex.lines, b.lines) || !strings.Contains(b.before, "ExampleX in x/example_test.go") {
		t.Errorf("first block %+v: want line 10, in the example, named before it", b)
	}
	if b := blocks[1]; containsRun(ex.lines, b.lines) || strings.Contains(b.before, "ExampleX") {
		t.Errorf("second block %+v: an edited line must not match, and the text before it does not name the example", b)
	}
}
