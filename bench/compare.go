package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Result is one line of a side-by-side comparison: a queue (OmniQ or a
// peer) draining the same burn-down of no-op jobs. bench/peers produces
// them; cmd/benchchart draws them.
type Result struct {
	System  string `json:"system"` // "omniq", "river", "asynq"
	Store   string `json:"store"`  // "pebble", "postgres", "redis", …
	API     string `json:"api"`    // how jobs were inserted and worked
	Jobs    int    `json:"jobs"`
	Workers int    `json:"workers"`

	EnqueuePerSec float64 `json:"enqueue_per_sec"`
	WorkedPerSec  float64 `json:"worked_per_sec"`
	WorkSeconds   float64 `json:"work_seconds"`
	Note          string  `json:"note,omitempty"`

	// Ratios of this result's drain rate to each peer's (0: no such peer).
	Ratios map[string]float64 `json:"ratios,omitempty"`
}

// Name is "system/store/api", e.g. "omniq/postgres/batch".
func (r Result) Name() string {
	parts := []string{r.System, r.Store}
	if r.API != "" {
		parts = append(parts, r.API)
	}
	return strings.Join(parts, "/")
}

// ResultFromReport turns a burn-down Report into a Result.
func ResultFromReport(store string, rep *Report) Result {
	return Result{
		System: "omniq", Store: store, API: string(rep.API),
		Jobs: int(rep.Worked), Workers: rep.Workers,
		EnqueuePerSec: rep.EnqueuePerSec, WorkedPerSec: rep.WorkedPerSec, WorkSeconds: rep.WorkSeconds,
	}
}

// SetRatios fills each OmniQ result's Ratios with its drain rate divided by
// each peer's (every result whose System is not "omniq").
func SetRatios(results []Result) {
	for i := range results {
		if results[i].System != "omniq" {
			continue
		}
		results[i].Ratios = map[string]float64{}
		for _, p := range results {
			if p.System != "omniq" && p.WorkedPerSec > 0 {
				results[i].Ratios[p.System] = results[i].WorkedPerSec / p.WorkedPerSec
			}
		}
	}
}

// WriteComparison writes results as a table, with one ratio column per peer.
func WriteComparison(w io.Writer, results []Result) error {
	var peers []string
	for _, r := range results {
		if r.System != "omniq" {
			peers = append(peers, r.System)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "queue\tjobs\tworkers\tenqueue/s\tworked/s\tdrain s\t")
	for _, p := range peers {
		fmt.Fprintf(tw, "× %s\t", p)
	}
	fmt.Fprintln(tw, "note\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%.2f\t", r.Name(), r.Jobs, r.Workers, thousands(r.EnqueuePerSec), thousands(r.WorkedPerSec), r.WorkSeconds)
		for _, p := range peers {
			if x, ok := r.Ratios[p]; ok {
				fmt.Fprintf(tw, "%.2f\t", x)
			} else {
				fmt.Fprint(tw, "\t")
			}
		}
		fmt.Fprintf(tw, "%s\t\n", r.Note)
	}
	return tw.Flush()
}
