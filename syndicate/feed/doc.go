// Package feed is the second source of articles beside the articles
// folder: it fetches RSS 0.9x/1.0/2.0, Atom 1.0 (and 0.3) and JSON Feed
// 1.0/1.1 feeds and turns their items into the same syndicate.Article the
// folder gives, text normalised as article text is. Parsing is
// github.com/mmcdole/gofeed's; HTML becomes text through a real HTML
// parser (golang.org/x/net/html), never patterns.
//
// # Using it
//
//	var f feed.Fetcher // zero value: syndicate's User-Agent, 10 MiB, 30 s
//	resp, err := f.Fetch(ctx, cfg.URL, cache)  // cache: the last resp.Cache, from the state
//	// keep resp.Cache; on err, resp.RetryAfter may say when to come back
//	if err == nil && !resp.NotModified {
//		parsed, err := feed.Parse(cfg, resp.Body, firstSeen)
//		// parsed.Items in feed order; parsed.Problems per item
//	}
//	img, err := f.FetchImage(ctx, article.Image.URL) // files.Image, as for a file
//
// # An item as an article
//
//   - ID: "<name>-<12 hex digits of SHA-256 of the GUID>", of the link when
//     there is no GUID; name is Config.Name, else the feed URL's host. An
//     item with neither GUID nor link has no stable identity and is
//     skipped; a GUID (or link) seen earlier in the same feed skips the
//     later item. Both are problems.
//   - Source "feed:<name>"; Path "feed:<name>/<ID>" (for problem messages).
//   - Title: the item's title (read as HTML: entities and tags are common in
//     feed titles), else the first key point, else the start of the text.
//     An item with no title and no text is skipped.
//   - URL: the item's link (Atom's alternate link; an RSS permalink GUID
//     when there is no link), resolved against the site, else the feed URL;
//     only http(s) links are kept.
//   - Date: published, else updated, else the first-seen time. A date that
//     does not parse is a problem and the item keeps its first-seen time.
//     ModTime is always the first-seen time.
//   - Tags: the item's categories (without WordPress's "Uncategorized"),
//     then Config.Tags, without repeats in any case.
//   - Body: paragraphs of content:encoded, Atom content (html, xhtml or
//     text by its type) or JSON content_html (content_text as plain text),
//     else of the summary (RSS description, Atom summary, JSON summary).
//     Left out: scripts, forms, embedded players, figure captions, Yoast's
//     closing "The post … appeared first on …" line and Substack's
//     subscribe widgets and buttons.
//   - KeyPoints: a "Key points" heading (h2, h3, a p, a p>strong, any case,
//     with or without a colon) directly followed by a ul or ol: its items.
//     Plain text takes the articles folder's form (a KEY POINTS line, then
//     bullet lines). Else none: the caller runs the extractor, as for a
//     file. The heading and list are not part of Body.
//   - Image (URL, Alt, Credit): media:content (a picture by medium, type or
//     extension; also inside media:group), media:thumbnail, an image
//     enclosure, JSON image (or banner_image), else the first <img> of the
//     content that is not a tracking pixel. Alt is media:description, else
//     the <img alt> of the same picture in the content, else its figcaption;
//     Credit is media:credit.
//   - Lang: the item's (JSON language, dc:language), else the feed's
//     (language, xml:lang), else Config.Lang; only values shaped like a
//     language code, written as the folder writes them ("en-us" is
//     "en-US").
//   - Hash: a digest of what the item says (title, link, its own categories
//     and language, key points, text, picture), so an edit is seen; a new
//     date, first-seen time or configured tags or language do not change it.
//
// # Fetching
//
// Fetcher sends a conditional GET from the Cache the caller kept, so an
// unchanged feed is a 304 that costs nothing; bounds the request (Timeout,
// body included, and HeaderTimeout), the body (MaxBytes: a longer body is
// refused, never cut and parsed), redirects (at most MaxRedirects, http(s)
// only); returns a 429's or 503's Retry-After rather than sleeping on it;
// sends syndicate.UserAgent() and never credentials. FetchImage applies the
// rules of a picture file (files.MaxImageSize, files.Sniff) and, unless
// AllowPrivateImages, reaches only public addresses: a picture URL is
// written by the feed's author, not by the operator.
//
// # Bad feeds
//
// Nothing a server sends panics or stops other feeds: an HTML page is
// "not a feed: the server sent an HTML page"; broken or truncated XML or
// JSON, and anything else that is not a feed, wrap ErrNotFeed; a 404 or
// 500 is an *HTTPError ("HTTP 404 from URL"); a body over the limit,
// however long or endless, is ErrTooLarge after reading one byte past the
// limit; a stalled server is ErrTimeout; item problems are *ItemError
// values in Feed.Problems.
package feed
