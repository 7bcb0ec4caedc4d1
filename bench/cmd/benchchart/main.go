// Command benchchart draws bench/chart.svg from the JSON that bench/peers
// prints with --json (an array of bench.Result), and prints the same
// results as a table:
//
//	cd bench/peers && go run . --json > ../out/peers.json
//	go run ./bench/cmd/benchchart -in bench/out/peers.json -out bench/chart.svg
//
// -in takes several files separated by commas; a result whose name
// (system/store/api) already appeared in an earlier file is left out.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/omniq/omniq/bench"
)

func main() {
	in := flag.String("in", "bench/out/peers.json", "results JSON files (arrays of bench.Result), comma-separated")
	out := flag.String("out", "bench/chart.svg", "SVG file to write")
	title := flag.String("title", "OmniQ and peers on one 2-core machine", "chart title")
	flag.Parse()
	if err := run(*in, *out, *title); err != nil {
		fmt.Fprintln(os.Stderr, "benchchart:", err)
		os.Exit(1)
	}
}

func run(in, out, title string) error {
	var results []bench.Result
	seen := map[string]bool{}
	for _, name := range strings.Split(in, ",") {
		data, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		var rs []bench.Result
		if err := json.Unmarshal(data, &rs); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, r := range rs {
			if !seen[r.Name()] {
				seen[r.Name()] = true
				results = append(results, r)
			}
		}
	}
	var buf bytes.Buffer
	if err := bench.WriteChart(&buf, title, results); err != nil {
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	return bench.WriteComparison(os.Stdout, results)
}
