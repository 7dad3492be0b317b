// Command chart draws the fan-out figures of bench/digest-load.sh as a
// PNG: messages per second against connections, for Postfix's smtp-source
// and for syndicate, side by side.
//
//	go run ./bench/chart < bench/out/rates.txt > docs/fanout.png
//
// Input: one line per connection count, "connections source syndicate".
package main

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"os"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

type point struct {
	conns             int
	source, syndicate float64
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	var pts []point
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var p point
		if _, err := fmt.Sscan(sc.Text(), &p.conns, &p.source, &p.syndicate); err != nil {
			return fmt.Errorf("line %q: %w", sc.Text(), err)
		}
		pts = append(pts, p)
	}
	if len(pts) == 0 {
		return fmt.Errorf("no figures on stdin")
	}
	top := 0.0
	for _, p := range pts {
		top = max(top, p.source, p.syndicate)
	}
	top = float64(int(top/1000)+1) * 1000

	const w, h, left, bottom, right, topPad = 720, 400, 70, 50, 20, 50
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	grey := color.RGBA{200, 200, 200, 255}
	ink := color.RGBA{40, 40, 40, 255}
	blue := color.RGBA{99, 100, 255, 255}
	orange := color.RGBA{230, 140, 40, 255}
	text := func(x, y int, s string, c color.Color) {
		d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	rect := func(x0, y0, x1, y1 int, c color.Color) {
		draw.Draw(img, image.Rect(x0, y0, x1, y1), image.NewUniform(c), image.Point{}, draw.Src)
	}
	plotH := h - bottom - topPad
	y := func(v float64) int { return h - bottom - int(v/top*float64(plotH)) }
	for v := 0.0; v <= top; v += 1000 {
		rect(left, y(v), w-right, y(v)+1, grey)
		text(8, y(v)+4, fmt.Sprintf("%5.0f", v), ink)
	}
	text(left, 20, "Digest fan-out: messages/s against SMTP connections (same message, same sink)", ink)
	rect(left, 30, left+12, 40, orange)
	text(left+18, 40, "Postfix smtp-source", ink)
	rect(left+180, 30, left+192, 40, blue)
	text(left+198, 40, "syndicate digest (ledger on)", ink)
	slot := (w - left - right) / len(pts)
	for i, p := range pts {
		x := left + i*slot + slot/2
		bw := slot / 4
		rect(x-bw-2, y(p.source), x-2, h-bottom, orange)
		rect(x+2, y(p.syndicate), x+bw+2, h-bottom, blue)
		text(x-bw-2, y(p.source)-4, fmt.Sprintf("%.0f", p.source), ink)
		text(x+2, y(p.syndicate)-16, fmt.Sprintf("%.0f", p.syndicate), ink)
		text(x-20, h-bottom+18, fmt.Sprintf("%d conn.", p.conns), ink)
		text(x-20, h-bottom+32, fmt.Sprintf("ratio %.2f", p.syndicate/p.source), ink)
	}
	rect(left, h-bottom, w-right, h-bottom+1, ink)
	return png.Encode(out, img)
}
