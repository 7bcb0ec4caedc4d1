package main

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// auditProgress draws a progress bar on stderr for the long audit commands
// (replay, verify, export, import). It stays quiet unless both stdout and
// stderr are terminals, so piped or redirected output and logs never get
// escape codes; and it starts drawing only once the work has run for a
// moment, so quick runs print nothing extra. Not safe for concurrent use.
type auditProgress struct {
	desc  string
	bytes bool // count bytes rather than events
	w     io.Writer
	on    bool
	delay time.Duration
	begun time.Time
	bar   *progressbar.ProgressBar
}

// newAuditProgress returns a progress bar described by desc, counting events, or
// bytes when bytes is set.
func newAuditProgress(desc string, bytes bool) *auditProgress {
	return &auditProgress{
		desc: desc, bytes: bytes, w: os.Stderr,
		on:    auditIsTerminal(os.Stdout) && auditIsTerminal(os.Stderr),
		delay: 300 * time.Millisecond, begun: time.Now(),
	}
}

func auditIsTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// set reports done units of total (total 0: unknown).
func (p *auditProgress) set(done, total uint64) {
	if !p.on {
		return
	}
	max := int64(total)
	if total == 0 {
		max = -1 // a spinner
	}
	if p.bar == nil {
		if time.Since(p.begun) < p.delay {
			return
		}
		opts := []progressbar.Option{
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(p.desc),
			progressbar.OptionThrottle(100 * time.Millisecond),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("events"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionFullWidth(),
		}
		if p.bytes {
			opts = append(opts, progressbar.OptionShowBytes(true))
		}
		p.bar = progressbar.NewOptions64(max, opts...)
	} else if max != p.bar.GetMax64() {
		p.bar.ChangeMax64(max)
	}
	_ = p.bar.Set64(int64(done))
}

// finish removes the bar, if one was drawn.
func (p *auditProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}

// auditCountingReader counts the bytes read through it, for import's progress.
type auditCountingReader struct {
	r io.Reader
	n uint64
}

func (c *auditCountingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += uint64(n)
	return n, err
}
