package main

import (
	"bytes"
	"fmt"
	"image/png"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var reports []string
	for _, target := range []string{"herd", "baseline"} {
		for i, n := range []int{1000, 5000, 19000} {
			reports = append(reports, fmt.Sprintf(`{"scenario": "curve", "target": %q, "metrics": [
				{"name": "subscribers", "value": %d}, {"name": "latency p50", "value": %d},
				{"name": "latency p99", "value": %d}, {"name": "hub RSS per subscriber", "value": %d}]}`,
				target, n, 5+10*i, 20+30*i, 2000+1000*i))
		}
	}
	in := `{"reports": [` + strings.Join(reports, ",") + `, {"scenario": "B1", "target": "herd", "metrics": []}]}`
	var out bytes.Buffer
	if err := run(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&out)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 480 {
		t.Errorf("image is %v", b)
	}
	// Something was drawn in herd's colour in each panel.
	for _, half := range []struct{ from, to int }{{0, 600}, {600, 1200}} {
		found := false
		for x := half.from; x < half.to && !found; x++ {
			for y := 0; y < 480 && !found; y++ {
				r, g, b, _ := img.At(x, y).RGBA()
				found = r>>8 == 0x1f && g>>8 == 0x77 && b>>8 == 0xb4
			}
		}
		if !found {
			t.Errorf("no herd line in the panel at x %d..%d", half.from, half.to)
		}
	}
}

func TestRun_errors(t *testing.T) {
	for in, want := range map[string]string{
		"not json":                          "reading herd bench JSON",
		`{"reports": []}`:                   `no "curve" reports`,
		`{"reports": [{"scenario": "B1"}]}`: `no "curve" reports`,
	} {
		err := run(strings.NewReader(in), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}
