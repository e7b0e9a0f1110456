package web

import (
	"fmt"
	"html"
	"html/template"
	"strings"
	"time"

	"sendpool/internal/stats"
)

// The pictures: SVG written here, in the page, no script. Colours go in
// presentation attributes (fill=), which the CSP's style-src does not
// govern; every text is escaped.

const (
	colDelivered = "#127a3d"
	colDeferred  = "#d99a00"
	colBlocked   = "#b42318"
	colQueue     = "#2f5bea"
)

// chart is one picture: stacked bars, one column per bucket, and an
// optional line over them on its own scale (a rate, 0–100 %).
type chart struct {
	Title  string
	Names  []string // one per stacked layer
	Colors []string
	Cols   [][]int   // per bucket, one value per layer
	Line   []float64 // a negative value: no point in that bucket
	LineOf string    // the line's name; "" for none
	First  string    // the first and last bucket's labels
	Last   string
}

const (
	chartW, chartH = 720, 160
	padL, padB     = 44, 22
	padT, padR     = 8, 40
)

// svg renders c.
func (c chart) svg() template.HTML {
	top := 0
	for _, col := range c.Cols {
		sum := 0
		for _, v := range col {
			sum += v
		}
		top = max(top, sum)
	}
	if top == 0 {
		top = 1
	}
	plotW, plotH := chartW-padL-padR, chartH-padT-padB
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		chartW, chartH, html.EscapeString(c.Title))
	fmt.Fprintf(&b, `<title>%s</title>`, html.EscapeString(c.Title))
	// Axes and the top value.
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#c5cad3"/>`, padL, padT+plotH, padL+plotW, padT+plotH)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end" fill="#667085">%d</text>`, padL-4, padT+10, top)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end" fill="#667085">0</text>`, padL-4, padT+plotH)
	n := max(len(c.Cols), 1)
	bw := float64(plotW) / float64(n)
	for i, col := range c.Cols {
		y := float64(padT + plotH)
		for j, v := range col {
			if v == 0 {
				continue
			}
			h := float64(v) / float64(top) * float64(plotH)
			y -= h
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %d</title></rect>`,
				float64(padL)+float64(i)*bw+0.5, y, max(bw-1, 1), h, c.Colors[j], html.EscapeString(c.Names[j]), v)
		}
	}
	if c.LineOf != "" && len(c.Line) > 0 {
		var pts []string
		for i, v := range c.Line {
			if v < 0 {
				continue
			}
			x := float64(padL) + (float64(i)+0.5)*bw
			y := float64(padT+plotH) - v/100*float64(plotH)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"><title>%s: %.1f %%</title></circle>`,
				x, y, colBlocked, html.EscapeString(c.LineOf), v)
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5"/>`,
			strings.Join(pts, " "), colBlocked)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="%s">100%%</text>`, padL+plotW+4, padT+10, colBlocked)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="%s">0%%</text>`, padL+plotW+4, padT+plotH, colBlocked)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#667085">%s</text>`, padL, chartH-6, html.EscapeString(c.First))
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end" fill="#667085">%s</text>`, padL+plotW, chartH-6, html.EscapeString(c.Last))
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built here, every text escaped
}

// legend is the chart's key, as HTML.
func (c chart) Legend() template.HTML {
	var b strings.Builder
	for i, n := range c.Names {
		fmt.Fprintf(&b, `<span class="key"><svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" fill="%s"/></svg> %s</span> `,
			c.Colors[i], html.EscapeString(n))
	}
	if c.LineOf != "" {
		fmt.Fprintf(&b, `<span class="key"><svg width="14" height="10" aria-hidden="true"><line x1="0" y1="5" x2="14" y2="5" stroke="%s" stroke-width="2"/></svg> %s</span>`,
			colBlocked, html.EscapeString(c.LineOf))
	}
	return template.HTML(b.String())
}

// SVG is the picture for templates.
func (c chart) SVG() template.HTML { return c.svg() }

func hourLabel(t time.Time) string { return t.UTC().Format("Jan 2 15:00Z") }

// ipChart is one IP × provider's attempts per hour over stats.Hours hours.
func ipChart(s stats.Series) chart {
	c := chart{Title: s.IP + " → " + s.Provider + ": attempts per hour, last 48 hours",
		Names: []string{"delivered", "deferred", "blocked"}, Colors: []string{colDelivered, colDeferred, colBlocked},
		First: hourLabel(s.Start), Last: hourLabel(s.Start.Add(time.Duration(len(s.Hours)-1) * time.Hour))}
	for _, h := range s.Hours {
		c.Cols = append(c.Cols, []int{h.Delivered, h.Deferred, h.Blocked})
	}
	return c
}

// queueChart is the queue's depth per hour.
func queueChart(depth []int, start time.Time) chart {
	c := chart{Title: "Queue depth (queued, deferred and held recipients), deepest per hour, last 48 hours",
		Names: []string{"recipients waiting"}, Colors: []string{colQueue},
		First: hourLabel(start), Last: hourLabel(start.Add(time.Duration(len(depth)-1) * time.Hour))}
	for _, d := range depth {
		c.Cols = append(c.Cols, []int{d})
	}
	return c
}

// volumeChart is an account's recipients per day, delivered and bounced,
// with the bounce rate.
func volumeChart(days []stats.Day) chart {
	c := chart{Title: "Recipients per day, last 30 days, with the bounce rate",
		Names: []string{"delivered", "bounced"}, Colors: []string{colDelivered, colBlocked}, LineOf: "bounce rate"}
	if len(days) > 0 {
		c.First, c.Last = days[0].Start.Format("Jan 2"), days[len(days)-1].Start.Format("Jan 2")
	}
	for _, d := range days {
		c.Cols = append(c.Cols, []int{d.Delivered, d.Bounced})
		rate := -1.0 // no mail, no rate
		if t := d.Delivered + d.Bounced; t > 0 {
			rate = float64(d.Bounced) / float64(t) * 100
		}
		c.Line = append(c.Line, rate)
	}
	return c
}

// percent is n of of as "12.5 %", "—" of nothing.
func percent(n, of int) string {
	if of == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f %%", float64(n)/float64(of)*100)
}
