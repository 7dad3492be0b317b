package thread_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/thread"
)

// The attack (issue 11's review): 60,000 tags in front matter made
// composing the head post run for over 15 minutes (one tag dropped and
// the rest re-rendered at a time). Tags are capped at MaxHashtags, so the
// work is bounded whatever the file says.
func TestCompose_HashtagsCapped(t *testing.T) {
	a := &syndicate.Article{ID: "tags", Title: "Tags", URL: "https://news.example.org/tags", KeyPoints: []string{"One point."}}
	for i := 0; i < 60000; i++ {
		a.Tags = append(a.Tags, fmt.Sprintf("tag%d", i))
	}
	if got := len(thread.Hashtags(a.Tags)); got != thread.MaxHashtags {
		t.Errorf("%d hashtags kept, want %d", got, thread.MaxHashtags)
	}
	th, err := thread.Compose(a, options(t, 500))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(th.Posts[0].Text, "#"); n > thread.MaxHashtags || th.Posts[0].Length > 500 {
		t.Errorf("head post with %d hashtags, %d characters", n, th.Posts[0].Length)
	}
}
