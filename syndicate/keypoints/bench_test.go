package keypoints

import "testing"

func BenchmarkSentences(b *testing.B) {
	for b.Loop() {
		Sentences(story, "en")
	}
}

func BenchmarkExtract(b *testing.B) {
	for b.Loop() {
		Extract([]string{story}, Options{})
	}
}
