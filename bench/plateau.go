package bench

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// ErrNotFlat: a run's curve broke a bound of CheckPlateau.
var ErrNotFlat = errors.New("bench: the run did not hold a plateau")

// The bounds CheckPlateau holds a soak run to.
const (
	// PlateauMinDrain: the run's last window drains at least this share of
	// what its second window drained.
	PlateauMinDrain = 0.90
	// PlateauRSSBand: after warm-up, the resident set stays within ± this
	// share of its level at the end of warm-up.
	PlateauRSSBand = 0.15
	// plateauMinIntervals: a curve with fewer samples is too coarse to judge.
	plateauMinIntervals = 8
	// plateauLevelIntervals: the level after warm-up is the median of at
	// least this many intervals (more when the window holds more), so that
	// with minute-long intervals one low or high minute is not the level.
	plateauLevelIntervals = 5
)

// Plateau is the verdict of CheckPlateau on a continuous run's intervals.
type Plateau struct {
	// WindowSeconds is the length of the two windows whose drained tasks
	// are compared: a minute, or a quarter of the run when that is
	// shorter. Reference is what the run drained in its second window
	// ([window, 2·window)), Last what it drained in its last one; Ratio is
	// Last over Reference. Intervals that straddle a window's edge count
	// in proportion to their overlap.
	WindowSeconds float64 `json:"window_seconds"`
	Reference     float64 `json:"reference_completed"`
	Last          float64 `json:"last_completed"`
	Ratio         float64 `json:"ratio"`
	// WarmUpSeconds: two minutes, or a quarter of the run when shorter;
	// longer when the run's retention needs longer to act (see
	// CheckPlateau's settle), up to half the run.
	// BaseRSS is the resident set's level after warm-up (the median of the
	// intervals in the window that starts there, and of at least
	// plateauLevelIntervals of them); MinRSS and MaxRSS bound
	// the intervals from warm-up on, and Deviation is the larger of their
	// distances from BaseRSS, as a share of it.
	WarmUpSeconds float64 `json:"warm_up_seconds"`
	BaseRSS       uint64  `json:"base_rss_bytes"`
	MinRSS        uint64  `json:"min_rss_bytes"`
	MaxRSS        uint64  `json:"max_rss_bytes"`
	Deviation     float64 `json:"rss_deviation"`
	// Failures says which bounds the run broke; empty when it held them.
	Failures []string `json:"failures,omitempty"`
}

// CheckPlateau holds the curve of a continuous run (Report.Intervals) to
// the soak bounds: the last window (a minute, or a quarter of a shorter
// run) drains at least PlateauMinDrain of what the second window drained,
// and from the end of warm-up (two minutes, or a quarter of a shorter run)
// on, every interval's resident set is within ±PlateauRSSBand of its level
// after warm-up: the median over the window that follows warm-up, or over
// its first five intervals when the window holds fewer. Warm-up
// lasts at least settle, capped at half the run: with retention, ended tasks
// are kept for its age before a pass removes them, so memory cannot level
// off before the age plus a pass or two (see RetentionSettle); and it lasts
// until the interval in which retention's first compaction ended
// (Interval.Compactions), which removes all that accumulated before it at
// once and so costs more than any compaction after it. An
// interval's resident set is its peak (Interval.PeakRSS) where the kernel
// reports one, else the sample at its end. A curve of fewer than 8
// intervals fails as too short to judge. See Plateau.Err.
func CheckPlateau(ivs []Interval, settle time.Duration) *Plateau {
	p := &Plateau{}
	if len(ivs) < plateauMinIntervals {
		p.Failures = append(p.Failures, fmt.Sprintf("%d intervals are too few to judge (want at least %d: a longer run or a shorter --interval)", len(ivs), plateauMinIntervals))
		return p
	}
	end := ivs[len(ivs)-1].At
	window := math.Min(60, end/4)
	p.WindowSeconds = window
	p.Reference = drained(ivs, window, 2*window)
	p.Last = drained(ivs, end-window, end)
	if p.Reference > 0 {
		p.Ratio = p.Last / p.Reference
	}
	if p.Reference <= 0 || p.Ratio < PlateauMinDrain {
		p.Failures = append(p.Failures, fmt.Sprintf("throughput: the last window drained %.1f%% of the second (want at least %.0f%%)", 100*p.Ratio, 100*PlateauMinDrain))
	}

	p.WarmUpSeconds = math.Max(math.Min(120, end/4), math.Min(settle.Seconds(), end/2))
	for _, s := range ivs {
		if s.Compactions > 0 {
			p.WarmUpSeconds = math.Max(p.WarmUpSeconds, math.Min(s.At, end/2))
			break
		}
	}
	base := len(ivs) - 1
	for i, s := range ivs {
		// The first interval that begins at the end of warm-up (ticks run
		// a little late): an interval's peak covers all of it, so one that
		// began during warm-up carries warm-up's peaks.
		if s.At-s.Seconds >= p.WarmUpSeconds-s.Seconds/2 {
			base = i
			break
		}
	}
	var level []uint64
	for _, s := range ivs[base:] {
		if s.At-ivs[base].At <= window || len(level) < plateauLevelIntervals {
			level = append(level, s.rss())
		}
	}
	slices.Sort(level)
	p.BaseRSS = level[len(level)/2]
	p.MinRSS, p.MaxRSS = p.BaseRSS, p.BaseRSS
	for _, s := range ivs[base:] {
		p.MinRSS, p.MaxRSS = min(p.MinRSS, s.rss()), max(p.MaxRSS, s.rss())
	}
	switch {
	case p.BaseRSS == 0:
		p.Failures = append(p.Failures, "RSS: no figures (is /proc/self/status there?)")
	case base == len(ivs)-1:
		p.Failures = append(p.Failures, "RSS: no interval after the end of warm-up")
	default:
		b := float64(p.BaseRSS)
		p.Deviation = math.Max(b-float64(p.MinRSS), float64(p.MaxRSS)-b) / b
		if p.Deviation > PlateauRSSBand {
			p.Failures = append(p.Failures, fmt.Sprintf("RSS: moved %.1f%% from its level at the end of warm-up (want at most ±%.0f%%)", 100*p.Deviation, 100*PlateauRSSBand))
		}
	}
	return p
}

// drained is what the intervals completed between from and to (seconds
// since the run began), counting an interval that straddles an edge in
// proportion to its overlap.
func drained(ivs []Interval, from, to float64) float64 {
	var n float64
	for _, s := range ivs {
		a, b := s.At-s.Seconds, s.At
		lo, hi := math.Max(a, from), math.Min(b, to)
		if hi <= lo || s.Seconds <= 0 {
			continue
		}
		n += float64(s.Completed) * (hi - lo) / s.Seconds
	}
	return n
}

// OK says whether the run held every bound.
func (p *Plateau) OK() bool { return len(p.Failures) == 0 }

// Err returns nil when the run held every bound, else an error wrapping
// ErrNotFlat that lists the broken ones.
func (p *Plateau) Err() error {
	if p.OK() {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrNotFlat, strings.Join(p.Failures, "; "))
}

// Lines describes the verdict, one line per bound, then the failures.
func (p *Plateau) Lines() []string {
	var l []string
	if p.WindowSeconds > 0 {
		w := time.Duration(p.WindowSeconds * float64(time.Second)).Round(time.Second)
		l = append(l, fmt.Sprintf("throughput: last %s drained %s, second %s %s: %.1f%% (bound >= %.0f%%)",
			w, thousands(p.Last), w, thousands(p.Reference), 100*p.Ratio, 100*PlateauMinDrain))
		l = append(l, fmt.Sprintf("RSS from %s on: %s to %s, %s at the end of warm-up: %.1f%% off (bound ±%.0f%%)",
			clock(p.WarmUpSeconds), mib(p.MinRSS), mib(p.MaxRSS), mib(p.BaseRSS), 100*p.Deviation, 100*PlateauRSSBand))
	}
	if p.OK() {
		return append(l, "ok: the run held its plateau")
	}
	for _, f := range p.Failures {
		l = append(l, "FAILED: "+f)
	}
	return l
}

// rss is the interval's resident set for the plateau check: its peak when
// known, else the sample at its end.
func (s Interval) rss() uint64 {
	if s.PeakRSS > 0 {
		return s.PeakRSS
	}
	return s.RSS
}

// RetentionSettle is how long a run with retention age (Config.Retention;
// none when not positive) keeps growing before retention holds its ended
// tasks steady: retention first compacts once the oldest ended task is
// Age×5/4 old (engine.Retention), which a pass (retentionEvery) notices up
// to one pass late; one more pass for the memory that compaction frees.
func RetentionSettle(age time.Duration) time.Duration {
	if age <= 0 {
		return 0
	}
	return age + age/4 + 2*retentionEvery(age)
}
