// Command benchchart draws bench/chart.svg from the JSON that bench/peers
// prints with --json (an array of bench.Result), and prints the same
// results as a table:
//
//	cd bench/peers && go run . --json > ../out/peers.json
//	go run ./bench/cmd/benchchart -in bench/out/peers.json -out bench/chart.svg
//
// -in takes several files separated by commas; a result whose name
// (system/store/api) already appeared in an earlier file is left out.
//
// With -curves it draws instead the per-interval curves of one continuous
// run (the report "omniqd bench --mode continuous --json" prints):
// throughput, RSS and heap in use, hot and cold tasks over time. The SVG
// goes to -out, or to stdout when -out is empty or "-"; the intervals are
// printed as a table on stdout, or on stderr when the SVG takes stdout:
//
//	go run ./cmd/omniqd bench --mode continuous --duration 2m --json > run.json
//	go run ./bench/cmd/benchchart -curves run.json > curve.svg
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/omniq/omniq/bench"
)

func main() {
	in := flag.String("in", "bench/out/peers.json", "results JSON files (arrays of bench.Result), comma-separated")
	curves := flag.String("curves", "", "a continuous run's report (omniqd bench --json): draw its per-interval curves instead")
	out := flag.String("out", "", `SVG file to write (default: bench/chart.svg; with -curves, stdout); "-" is stdout`)
	title := flag.String("title", "", "chart title (default: OmniQ and peers on one 2-core machine; with -curves, the run's store scheme, mode, API and retention)")
	flag.Parse()
	var err error
	if *curves != "" {
		err = runCurves(*curves, *out, *title)
	} else {
		err = run(*in, cmpOr(*out, "bench/chart.svg"), cmpOr(*title, "OmniQ and peers on one 2-core machine"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchchart:", err)
		os.Exit(1)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
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

// runCurves draws the curves of the report in file in to out (stdout for
// "" or "-") and prints its intervals as a table.
func runCurves(in, out, title string) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var rep bench.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if len(rep.Intervals) == 0 {
		return fmt.Errorf("%s: the report has no intervals (not a continuous run?)", in)
	}
	if title == "" {
		store, _, _ := strings.Cut(rep.Store, "://") // the scheme: a temporary path says nothing
		title = fmt.Sprintf("%s, %s / %s API, %d workers", store, rep.Mode, rep.API, rep.Workers)
		if rep.Retention != "" {
			title += ", retention " + strings.SplitN(rep.Retention, ",", 2)[0]
		}
	}
	var buf bytes.Buffer
	if err := bench.WriteCurves(&buf, title, rep.Intervals); err != nil {
		return err
	}
	var table io.Writer = os.Stdout
	if out == "" || out == "-" {
		table = os.Stderr
		if _, err := os.Stdout.Write(buf.Bytes()); err != nil {
			return err
		}
	} else if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	if err := bench.WriteIntervals(table, rep.Intervals); err != nil {
		return err
	}
	if p := rep.Plateau; p != nil {
		for _, l := range p.Lines() {
			fmt.Fprintln(table, "plateau:", l)
		}
	}
	return nil
}
