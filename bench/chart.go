package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// chartColors colours each system's bars; others are grey.
var chartColors = map[string]string{"omniq": "#2f6fdf", "river": "#e07b28", "asynq": "#c43c3c"}

// WriteChart draws results as a horizontal bar chart of drain rate
// (worked tasks per second), one bar per result in the given order, as a
// self-contained SVG document.
func WriteChart(w io.Writer, title string, results []Result) error {
	const (
		labelW = 230
		plotW  = 520
		valueW = 110
		barH   = 22
		gap    = 8
		top    = 56
		bottom = 40
	)
	width := labelW + plotW + valueW
	height := top + len(results)*(barH+gap) + bottom
	maxV := 0.0
	for _, r := range results {
		maxV = math.Max(maxV, r.WorkedPerSec)
	}
	scale := niceCeil(maxV)
	var b strings.Builder
	svgStart(&b, width, height, title, "worked tasks per second (burn-down drain, no-op handler); higher is better")
	// Grid lines at fifths of the scale.
	for i := 0; i <= 5; i++ {
		x := labelW + plotW*i/5
		y2 := height - bottom + 4
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#ddd"/>`+"\n", x, top-4, x, y2)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n", x, y2+16, shortCount(scale*float64(i)/5))
	}
	for i, r := range results {
		y := top + i*(barH+gap)
		colour, ok := chartColors[r.System]
		if !ok {
			colour = "#888"
		}
		w := 0.0
		if scale > 0 {
			w = float64(plotW) * r.WorkedPerSec / scale
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", labelW-8, y+barH-6, html.EscapeString(r.Name()))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", labelW, y, w, barH, colour)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s/s</text>`+"\n", float64(labelW)+w+6, y+barH-6, thousands(r.WorkedPerSec))
	}
	return svgEnd(w, &b)
}

// svgStart begins in b a self-contained SVG document of width by height
// pixels: a white page, title in bold at its top, and under it note, a
// line of plain text (written as is).
func svgStart(b *strings.Builder, width, height int, title, note string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="13">`+"\n", width, height, width, height)
	fmt.Fprintf(b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(b, `<text x="%d" y="24" font-size="16" font-weight="bold">%s</text>`+"\n", 10, html.EscapeString(title))
	fmt.Fprintf(b, `<text x="%d" y="42" fill="#555">%s</text>`+"\n", 10, note)
}

// svgEnd ends the document svgStart began in b and writes it to w.
func svgEnd(w io.Writer, b *strings.Builder) error {
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// shortCount writes 150000 as "150k".
func shortCount(v float64) string {
	switch {
	case v >= 1e6:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", v/1e6), ".0") + "M"
	case v >= 1e3:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", v/1e3), ".0") + "k"
	}
	return fmt.Sprintf("%.0f", v)
}
