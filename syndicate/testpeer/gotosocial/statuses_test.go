package gotosocial

import "testing"

func TestHTMLText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		// GoToSocial v0.18.3 escapes '<' but leaves '&' and '>' bare in plain-text posts.
		{`<p>Headline & &lt;news><br>second line <a href="https://example.org/a?x=1&amp;y=2" rel="nofollow noreferrer noopener" target="_blank">https://example.org/a?x=1&amp;y=2</a></p>`,
			"Headline & <news>\nsecond line https://example.org/a?x=1&y=2"},
		{`<p>1/2 point <a href="http://localhost:1/tags/tag" class="mention hashtag" rel="tag nofollow noreferrer noopener" target="_blank">#<span>tag</span></a></p>`,
			"1/2 point #tag"},
		{`<p>one<br><br>two</p><p>three</p>`, "one\n\ntwo\n\nthree"},
		{``, ""},
	} {
		if got := HTMLText(c.in); got != c.want {
			t.Errorf("HTMLText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
