// Package chart draws the line charts of BENCHMARKS.md as SVG, with no
// dependency beyond the standard library.
package chart

import (
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
)

// Series is one line of a chart.
type Series struct {
	Name string
	// X and Y are the points, in order of X.
	X, Y []float64
	// Dashed draws the line dashed, for a reference such as the floor.
	Dashed bool
}

// Line is a line chart.
type Line struct {
	Title, XLabel, YLabel string
	// XTicks, if set, are the only x values labelled, such as the
	// concurrency levels measured; otherwise five even ticks.
	XTicks []float64
	// LogX spaces x logarithmically.
	LogX   bool
	Series []Series
}

const (
	width, height                    = 640, 360
	left, right, top, bottom float64 = 72, 160, 40, 48
)

var colors = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

// WriteSVG writes the chart as a standalone SVG document.
func (c *Line) WriteSVG(w io.Writer) error {
	minX, maxX := math.Inf(1), math.Inf(-1)
	maxY := 0.0
	for _, s := range c.Series {
		for i := range s.X {
			minX, maxX = math.Min(minX, s.X[i]), math.Max(maxX, s.X[i])
			maxY = math.Max(maxY, s.Y[i])
		}
	}
	if math.IsInf(minX, 0) {
		return fmt.Errorf("chart %q: no points", c.Title)
	}
	if maxX == minX {
		maxX = minX + 1
	}
	yTicks := niceTicks(maxY)
	maxY = yTicks[len(yTicks)-1]
	fx := func(x float64) float64 {
		if c.LogX {
			x, minX, maxX := math.Log(x), math.Log(minX), math.Log(maxX)
			return left + (x-minX)/(maxX-minX)*(width-left-right)
		}
		return left + (x-minX)/(maxX-minX)*(width-left-right)
	}
	fy := func(y float64) float64 { return height - bottom - y/maxY*(height-top-bottom) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%g" y="22" font-size="14" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(c.Title))
	for _, t := range yTicks {
		y := fy(t)
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#ddd"/>`+"\n", left, y, width-right, y)
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", left-6, y, format(t))
	}
	xTicks := c.XTicks
	if len(xTicks) == 0 {
		for i := range 5 {
			xTicks = append(xTicks, minX+float64(i)*(maxX-minX)/4)
		}
	}
	for _, t := range xTicks {
		x := fx(t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#ddd"/>`+"\n", x, top, x, height-bottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" text-anchor="middle">%s</text>`+"\n", x, height-bottom+16, format(t))
	}
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="black"/>`+"\n", left, height-bottom, width-right, height-bottom)
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="black"/>`+"\n", left, top, left, height-bottom)
	fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle">%s</text>`+"\n", left+(width-left-right)/2, float64(height)-10, html.EscapeString(c.XLabel))
	fmt.Fprintf(&b, `<text transform="translate(16 %g) rotate(-90)" text-anchor="middle">%s</text>`+"\n", top+(height-top-bottom)/2, html.EscapeString(c.YLabel))
	for i, s := range c.Series {
		color := colors[i%len(colors)]
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		pts := make([]string, len(s.X))
		for j := range s.X {
			pts[j] = fmt.Sprintf("%.1f,%.1f", fx(s.X[j]), fy(s.Y[j]))
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", fx(s.X[j]), fy(s.Y[j]), color)
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", color, dash, strings.Join(pts, " "))
		ly := top + 10 + float64(i)*18
		fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s" stroke-width="2"%s/>`+"\n", width-right+12, ly, width-right+36, ly, color, dash)
		fmt.Fprintf(&b, `<text x="%g" y="%g" dominant-baseline="middle">%s</text>`+"\n", width-right+42, ly, html.EscapeString(s.Name))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// niceTicks returns 0 and round steps up to at least max.
func niceTicks(max float64) []float64 {
	if max <= 0 {
		return []float64{0, 1}
	}
	raw := max / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag * 10
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if mag*m >= raw {
			step = mag * m
			break
		}
	}
	var ticks []float64
	for t := 0.0; ; t += step {
		ticks = append(ticks, t)
		if t >= max {
			return ticks
		}
	}
}

// format prints a tick value briefly: 5k, 12.5k, 1.5M, 0.25.
func format(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 4, 64) + "M"
	case a >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 4, 64) + "k"
	default:
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
}
