// Command benchplot draws the plot in BENCHMARKS.md from the JSON of
// `herd bench --json curve`: latency percentiles (left) and hub memory per
// subscriber (right) against the subscriber count, for herd and for the
// baseline measured in the same run.
//
//	herd bench --json curve > docs/bench/curve.json
//	go run ./scripts/benchplot < docs/bench/curve.json > docs/bench/curve.png
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"os"
	"slices"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

type report struct {
	Scenario string `json:"scenario"`
	Target   string `json:"target"`
	Metrics  []struct {
		Name  string  `json:"name"`
		Value float64 `json:"value"`
	} `json:"metrics"`
}

func (r report) metric(name string) (float64, bool) {
	for _, m := range r.Metrics {
		if m.Name == name {
			return m.Value, true
		}
	}
	return 0, false
}

// A series is one line of a panel.
type series struct {
	label string
	color color.RGBA
	dash  bool
	pts   [][2]float64
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchplot:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	var doc struct {
		Reports []report `json:"reports"`
	}
	if err := json.NewDecoder(in).Decode(&doc); err != nil {
		return fmt.Errorf("reading herd bench JSON: %w", err)
	}
	colors := map[string]color.RGBA{"herd": {0x1f, 0x77, 0xb4, 255}, "baseline": {0xd6, 0x27, 0x28, 255}}
	var latency, memory []series
	for _, target := range []string{"herd", "baseline"} {
		p50 := series{label: target + " p50", color: colors[target], dash: true}
		p99 := series{label: target + " p99", color: colors[target]}
		mem := series{label: target, color: colors[target]}
		for _, r := range doc.Reports {
			n, ok := r.metric("subscribers")
			if r.Scenario != "curve" || r.Target != target || !ok {
				continue
			}
			if v, ok := r.metric("latency p50"); ok {
				p50.pts = append(p50.pts, [2]float64{n, v})
			}
			if v, ok := r.metric("latency p99"); ok {
				p99.pts = append(p99.pts, [2]float64{n, v})
			}
			if v, ok := r.metric("hub RSS per subscriber"); ok {
				mem.pts = append(mem.pts, [2]float64{n, v / 1024})
			}
		}
		for _, s := range []*series{&p50, &p99, &mem} {
			slices.SortFunc(s.pts, func(a, b [2]float64) int { return int(a[0] - b[0]) })
		}
		if len(p99.pts) > 0 {
			latency = append(latency, p99, p50)
		}
		if len(mem.pts) > 0 {
			memory = append(memory, mem)
		}
	}
	if len(latency) == 0 {
		return errors.New(`no "curve" reports with subscriber counts: run herd bench --json curve`)
	}
	img := image.NewRGBA(image.Rect(0, 0, 1200, 480))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	panel(img, image.Rect(0, 0, 600, 480), "Publish-to-receive latency (ms, log scale), 5 events/s", latency, true)
	panel(img, image.Rect(600, 0, 1200, 480), "Hub RSS per subscriber (KiB)", memory, false)
	return png.Encode(out, img)
}

// panel draws one chart: the x axis from zero, the y axis from zero or, on
// a log scale, from the power of ten below the smallest value; ticks, the
// series and a legend.
func panel(img *image.RGBA, r image.Rectangle, title string, ss []series, logY bool) {
	const left, right, top, bottom = 70, 20, 40, 50
	plot := image.Rect(r.Min.X+left, r.Min.Y+top, r.Max.X-right, r.Max.Y-bottom)
	var xmax, ymax float64
	ymin := math.Inf(1)
	for _, s := range ss {
		for _, p := range s.pts {
			xmax, ymax = math.Max(xmax, p[0]), math.Max(ymax, p[1])
			ymin = math.Min(ymin, p[1])
		}
	}
	xstep, ystep := niceStep(xmax), niceStep(ymax)
	xmax = math.Ceil(xmax/xstep) * xstep
	// fy maps a value to its height on the axis, from 0 to 1.
	var fy func(y float64) float64
	var yticks []float64
	if logY {
		lo := math.Floor(math.Log10(math.Max(ymin, 1e-3)))
		hi := math.Ceil(math.Log10(math.Max(ymax, 1e-3) * 1.01))
		fy = func(y float64) float64 { return (math.Log10(math.Max(y, 1e-3)) - lo) / (hi - lo) }
		for e := lo; e <= hi; e++ {
			yticks = append(yticks, math.Pow(10, e))
		}
	} else {
		ymax = math.Ceil(ymax*1.1/ystep) * ystep
		fy = func(y float64) float64 { return y / ymax }
		for y := 0.0; y <= ymax+ystep/2; y += ystep {
			yticks = append(yticks, y)
		}
	}
	at := func(x, y float64) (int, int) {
		return plot.Min.X + int(x/xmax*float64(plot.Dx())), plot.Max.Y - int(fy(y)*float64(plot.Dy()))
	}
	grey, black := color.RGBA{0xdd, 0xdd, 0xdd, 255}, color.RGBA{0, 0, 0, 255}
	for _, y := range yticks {
		_, py := at(0, y)
		line(img, plot.Min.X, py, plot.Max.X, py, grey, false)
		text(img, plot.Min.X-8-7*len(label(y)), py+4, label(y), black)
	}
	for x := 0.0; x <= xmax+xstep/2; x += xstep {
		px, _ := at(x, 0)
		line(img, px, plot.Min.Y, px, plot.Max.Y, grey, false)
		text(img, px-7*len(label(x))/2, plot.Max.Y+18, label(x), black)
	}
	line(img, plot.Min.X, plot.Max.Y, plot.Max.X, plot.Max.Y, black, false)
	line(img, plot.Min.X, plot.Min.Y, plot.Min.X, plot.Max.Y, black, false)
	text(img, r.Min.X+left, r.Min.Y+24, title, black)
	text(img, plot.Min.X+plot.Dx()/2-70, r.Max.Y-12, "subscribers (HTTP/1.1)", black)
	for i, s := range ss {
		for j := 1; j < len(s.pts); j++ {
			x0, y0 := at(s.pts[j-1][0], s.pts[j-1][1])
			x1, y1 := at(s.pts[j][0], s.pts[j][1])
			thick(img, x0, y0, x1, y1, s.color, s.dash)
		}
		for _, p := range s.pts {
			x, y := at(p[0], p[1])
			draw.Draw(img, image.Rect(x-3, y-3, x+4, y+4), image.NewUniform(s.color), image.Point{}, draw.Src)
		}
		ly := plot.Min.Y + 14 + 18*i
		thick(img, plot.Min.X+12, ly-4, plot.Min.X+42, ly-4, s.color, s.dash)
		text(img, plot.Min.X+50, ly, s.label, black)
	}
}

// niceStep is a round tick spacing giving about five ticks up to max.
func niceStep(max float64) float64 {
	if max <= 0 {
		return 1
	}
	raw := max / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

func label(v float64) string {
	if v >= 1000 && math.Mod(v, 1000) == 0 {
		return strconv.FormatFloat(v/1000, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func thick(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA, dash bool) {
	for d := -1; d <= 1; d++ {
		line(img, x0, y0+d, x1, y1+d, c, dash)
	}
}

// line draws with Bresenham's algorithm; dashed lines skip every other
// run of six pixels.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA, dash bool) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	err := dx + dy
	for i := 0; ; i++ {
		if !dash || (i/6)%2 == 0 {
			img.SetRGBA(x0, y0, c)
		}
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * err
		if e2 >= dy {
			err += dy
			x0 += sx
		}
		if e2 <= dx {
			err += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
