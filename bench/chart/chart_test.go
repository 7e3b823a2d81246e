package chart

import (
	"encoding/xml"
	"strings"
	"testing"
)

func TestWriteSVG(t *testing.T) {
	c := &Line{Title: "req/s <1 KiB>", XLabel: "in flight", YLabel: "requests/s", LogX: true, XTicks: []float64{1, 16, 64},
		Series: []Series{
			{Name: "hookguard", X: []float64{1, 16, 64}, Y: []float64{4000, 11000, 12500}},
			{Name: "floor", X: []float64{1, 16, 64}, Y: []float64{3500, 10000, 10100}, Dashed: true},
		}}
	var b strings.Builder
	if err := c.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	// Well-formed XML, the title escaped, one polyline and legend entry per
	// series, the ticks asked for.
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		if _, err := d.Token(); err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("not well-formed: %v\n%s", err, svg)
			}
			break
		}
	}
	for _, want := range []string{"req/s &lt;1 KiB&gt;", ">hookguard<", ">floor<", ">16<", ">64<", "stroke-dasharray"} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	if n := strings.Count(svg, "<polyline"); n != 2 {
		t.Errorf("%d polylines, want 2", n)
	}
	// The highest point is inside the plot: the y axis reaches 12.5k.
	if !strings.Contains(svg, ">12.5k<") && !strings.Contains(svg, ">14k<") && !strings.Contains(svg, ">15k<") {
		t.Errorf("y ticks do not cover the data:\n%s", svg)
	}
	if err := (&Line{Title: "empty"}).WriteSVG(&b); err == nil {
		t.Error("a chart without points drew")
	}
}

func TestNiceTicks(t *testing.T) {
	for _, tc := range []struct {
		max  float64
		last float64
	}{{12500, 15000}, {1, 1}, {0.3, 0.3}, {160, 200}} {
		ticks := niceTicks(tc.max)
		if ticks[0] != 0 || ticks[len(ticks)-1] < tc.max || ticks[len(ticks)-1] > tc.last+1e-9 {
			t.Errorf("niceTicks(%v) = %v", tc.max, ticks)
		}
	}
}
