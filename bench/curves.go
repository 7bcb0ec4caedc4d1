package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// curve is one line of a curves panel.
type curve struct {
	name, colour string
	dashed       bool
	values       []float64
}

// WriteCurves draws a continuous run's intervals (Report.Intervals) as a
// self-contained SVG document, in the style of WriteChart: three panels
// over the run's time, worked tasks per second; the resident set and the
// Go heap in use; the engine's hot and cold task counts.
func WriteCurves(w io.Writer, title string, ivs []Interval) error {
	const (
		left   = 80
		plotW  = 740
		right  = 40
		plotH  = 170
		gap    = 70
		top    = 80
		bottom = 50
	)
	width := left + plotW + right
	height := top + 3*plotH + 2*gap + bottom
	end := 0.0
	if len(ivs) > 0 {
		end = ivs[len(ivs)-1].At
	}
	at := make([]float64, len(ivs))
	perSec := make([]float64, len(ivs))
	rss, heap := make([]float64, len(ivs)), make([]float64, len(ivs))
	hot, cold := make([]float64, len(ivs)), make([]float64, len(ivs))
	for i, s := range ivs {
		at[i], perSec[i] = s.At, s.PerSec
		rss[i], heap[i] = float64(s.RSS)/(1<<20), float64(s.HeapInuse)/(1<<20)
		hot[i], cold[i] = float64(s.HotTasks), float64(s.ColdTasks)
	}

	var b strings.Builder
	svgStart(&b, width, height, title, "per interval of a continuous run, plotted at each interval's end; flat is better")

	xOf := func(t float64) float64 {
		if end <= 0 {
			return left
		}
		return left + plotW*t/end
	}
	step := timeStep(end)
	panel := func(y0 int, label string, format func(float64) string, lines ...curve) {
		maxV := 0.0
		for _, c := range lines {
			for _, v := range c.values {
				maxV = math.Max(maxV, v)
			}
		}
		scale := niceCeil(maxV)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">%s</text>`, 10, y0-12, html.EscapeString(label))
		lx := left + 260
		for _, c := range lines {
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`, lx, y0-16, lx+24, y0-16, c.colour, dash(c.dashed))
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#555">%s</text>`, lx+30, y0-12, html.EscapeString(c.name))
			lx += 40 + 8*len(c.name)
		}
		b.WriteString("\n")
		// Grid lines at fifths of the scale, and at each time step.
		for i := 0; i <= 5; i++ {
			y := y0 + plotH - plotH*i/5
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#ddd"/>`, left, y, left+plotW, y)
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" fill="#555">%s</text>`+"\n", left-6, y+4, format(scale*float64(i)/5))
		}
		for t := 0.0; step > 0 && t <= end+1e-9; t += step {
			x := xOf(t)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`, x, y0, x, y0+plotH+4)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n", x, y0+plotH+18, clock(t))
		}
		for _, c := range lines {
			yOf := func(v float64) float64 { return float64(y0+plotH) - float64(plotH)*v/scale }
			if len(c.values) == 1 { // a single sample: a dot
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", xOf(at[0]), yOf(c.values[0]), c.colour)
				continue
			}
			var pts []string
			for i, v := range c.values {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(at[i]), yOf(v)))
			}
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), c.colour, dash(c.dashed))
		}
	}
	panel(top, "worked tasks/s", shortCount,
		curve{name: "tasks/s", colour: chartColors["omniq"], values: perSec})
	panel(top+plotH+gap, "memory (MiB)", func(v float64) string { return fmt.Sprintf("%.0f", v) },
		curve{name: "RSS", colour: chartColors["river"], values: rss},
		curve{name: "heap in use", colour: "#888", dashed: true, values: heap})
	panel(top+2*(plotH+gap), "tasks in the engine's state", shortCount,
		curve{name: "hot (full records)", colour: chartColors["omniq"], values: hot},
		curve{name: "cold (ended, compact)", colour: chartColors["asynq"], dashed: true, values: cold})
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#555">time since the run began (m:ss)</text>`+"\n", left+plotW/2, height-10)
	return svgEnd(w, &b)
}

func dash(on bool) string {
	if on {
		return ` stroke-dasharray="6 4"`
	}
	return ""
}

// timeStep picks the spacing of the time axis' grid lines, in whole
// seconds: at most eight over end seconds.
func timeStep(end float64) float64 {
	for _, s := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400} {
		if end/s <= 8 {
			return s
		}
	}
	return end / 8
}
