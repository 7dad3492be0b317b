package rouge

import (
	"math"
	"testing"
)

func TestScore(t *testing.T) {
	tests := []struct {
		c, r       string
		r1, r2, rl float64
	}{
		{"the cat sat", "the cat sat", 1, 1, 1},
		{"the cat", "the cat sat on the mat", 2 * (1 * 2.0 / 6) / (1 + 2.0/6), 2 * (1 * 1.0 / 5) / (1 + 1.0/5), 2 * (1 * 2.0 / 6) / (1 + 2.0/6)},
		{"dogs", "cats", 0, 0, 0},
		{"Running quickly!", "runs quick", 1, 1, 1}, // stems: run, quick
	}
	for _, tt := range tests {
		got := Score(tt.c, tt.r)
		if math.Abs(got.R1-tt.r1) > 1e-9 || math.Abs(got.R2-tt.r2) > 1e-9 || math.Abs(got.RL-tt.rl) > 1e-9 {
			t.Errorf("Score(%q, %q) = %+v, want %v %v %v", tt.c, tt.r, got, tt.r1, tt.r2, tt.rl)
		}
	}
}
