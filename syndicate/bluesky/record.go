package bluesky

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/api/bsky"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/rivo/uniseg"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/text"
	"github.com/syndicate-bot/syndicate/syndicate/thread"
)

// The facet lexicon's bounds on a tag (app.bsky.richtext.facet#tag).
const (
	maxTagBytes     = 640
	maxTagGraphemes = 64
)

// createdAtLayout writes createdAt in UTC to the millisecond, always with
// three decimals, so that the same planned time is the same string.
const createdAtLayout = "2006-01-02T15:04:05.000Z"

// Render is a post's text as the record holds it: the text Bluesky
// shows, every URL shortened exactly as thread.BlueskyText does (so the
// counted length is the posted length), with an app.bsky.richtext.facet
// #link over each shortened URL carrying the whole URL, and a #tag facet
// over each hashtag (the tag without its "#"). The facets' byteStart and
// byteEnd are UTF-8 byte offsets into the text returned. URLs and hashtags
// are found by thread.Spans, the counter's own rules. A hashtag of digits
// only, or longer than the lexicon's 64 graphemes or 640 bytes, stays
// plain text (Bluesky's app does not make those tags either). Remote
// mentions (@user@domain, a Mastodon form) stay plain text: a Bluesky
// mention names a DID.
func Render(post string) (string, []*bsky.RichtextFacet) {
	var b strings.Builder
	var facets []*bsky.RichtextFacet
	last := 0
	for _, sp := range thread.Spans(post) {
		switch sp.Kind {
		case "url":
			u := post[sp.Start:sp.End]
			b.WriteString(post[last:sp.Start])
			start := b.Len()
			b.WriteString(text.ShortURL(u))
			facets = append(facets, &bsky.RichtextFacet{
				Index:    &bsky.RichtextFacet_ByteSlice{ByteStart: int64(start), ByteEnd: int64(b.Len())},
				Features: []*bsky.RichtextFacet_Features_Elem{{RichtextFacet_Link: &bsky.RichtextFacet_Link{Uri: u}}},
			})
			last = sp.End
		case "hashtag":
			tag := post[sp.Start+1 : sp.End]
			if !taggable(tag) {
				continue
			}
			b.WriteString(post[last:sp.Start])
			start := b.Len()
			b.WriteString(post[sp.Start:sp.End])
			facets = append(facets, &bsky.RichtextFacet{
				Index:    &bsky.RichtextFacet_ByteSlice{ByteStart: int64(start), ByteEnd: int64(b.Len())},
				Features: []*bsky.RichtextFacet_Features_Elem{{RichtextFacet_Tag: &bsky.RichtextFacet_Tag{Tag: tag}}},
			})
			last = sp.End
		}
	}
	if last == 0 {
		return post, facets
	}
	b.WriteString(post[last:])
	return b.String(), facets
}

// taggable reports whether a hashtag (without its "#") becomes a tag facet.
func taggable(tag string) bool {
	if tag == "" || len(tag) > maxTagBytes || uniseg.GraphemeClusterCount(tag) > maxTagGraphemes {
		return false
	}
	return strings.Trim(tag, "0123456789") != ""
}

// rejectf is a refusal of the post before it is sent: the PDS would
// refuse it too, every time.
func rejectf(op, format string, args ...any) error {
	return fmt.Errorf("bluesky: %s: %w: %s", op, syndicate.ErrRejected, fmt.Sprintf(format, args...))
}

// Record is the app.bsky.feed.post record a planned post is written as,
// in JSON. The same post, refs and media always give the same bytes:
// createdAt is the planned time (UTC, milliseconds), the facets follow
// from the text, and the media strings are what Upload returned (a blob
// of content-addressed bytes, the alt text and the aspect ratio). The
// refs must carry CIDs (Post looks up missing ones). lang is the
// language used when the post names none.
func Record(p syndicate.PlannedPost, parent, root syndicate.Ref, media []string, lang string) ([]byte, error) {
	op := fmt.Sprintf("post %d", p.Index+1)
	if p.CreatedAt.IsZero() {
		return nil, rejectf(op, "the post was not planned (no createdAt): Plan must fix it before the first attempt")
	}
	if p.ContentWarning != "" {
		return nil, rejectf(op, "a Bluesky post has no content warning of its own words (only labels for adult content): put it in the text")
	}
	visible, facets := Render(p.Text)
	rec := bsky.FeedPost{
		LexiconTypeID: postCollection,
		Text:          visible,
		Facets:        facets,
		CreatedAt:     p.CreatedAt.UTC().Truncate(time.Millisecond).Format(createdAtLayout),
	}
	if p.Language != "" {
		l, err := canonicalLanguage(p.Language)
		if err != nil {
			return nil, rejectf(op, "language: %v", err)
		}
		lang = l
	}
	if lang != "" {
		rec.Langs = []string{lang}
	}
	if parent.ID != "" {
		if root.ID == "" {
			root = parent
		}
		for _, r := range []syndicate.Ref{parent, root} {
			if _, err := syntax.ParseATURI(r.ID); err != nil {
				return nil, rejectf(op, "the post it replies to, %q, is not an at:// URI: %v", r.ID, err)
			}
			if _, err := syntax.ParseCID(r.CID); err != nil {
				return nil, rejectf(op, "the post it replies to, %s, has no valid CID (%q)", r.ID, r.CID)
			}
		}
		rec.Reply = &bsky.FeedPost_ReplyRef{
			Root:   &comatproto.RepoStrongRef{Uri: root.ID, Cid: root.CID},
			Parent: &comatproto.RepoStrongRef{Uri: parent.ID, Cid: parent.CID},
		}
	} else if root.ID != "" {
		return nil, rejectf(op, "a root (%s) without a parent", root.ID)
	}
	switch {
	case len(media) > MaxImages:
		return nil, rejectf(op, "%d pictures; a post takes at most %d", len(media), MaxImages)
	case len(media) > 0:
		imgs := &bsky.EmbedImages{LexiconTypeID: "app.bsky.embed.images"}
		for i, m := range media {
			var img bsky.EmbedImages_Image
			if err := json.Unmarshal([]byte(m), &img); err != nil || img.Image == nil {
				return nil, rejectf(op, "picture %d is not what Upload returned: %v", i+1, errOr(err, "no blob"))
			}
			imgs.Images = append(imgs.Images, &img)
		}
		rec.Embed = &bsky.FeedPost_Embed{EmbedImages: imgs}
	case p.CardURL != "":
		rec.Embed = &bsky.FeedPost_Embed{EmbedExternal: &bsky.EmbedExternal{
			LexiconTypeID: "app.bsky.embed.external",
			External:      &bsky.EmbedExternal_External{Uri: p.CardURL, Title: p.CardTitle, Description: p.CardDescription},
		}}
	}
	return json.Marshal(&rec)
}

func errOr(err error, msg string) error {
	if err != nil {
		return err
	}
	return errors.New(msg)
}
