package pds_test

import (
	"bytes"
	"compress/zlib"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate/testpeer/pds"
)

const post = "app.bsky.feed.post"

// client is a bare XRPC client: what the product will do, with net/http only.
type client struct {
	srv            *pds.Server
	access, refrsh string
}

// answer is one HTTP answer.
type answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// xerr is the XRPC error body.
type xerr struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func (a answer) err(t *testing.T) xerr {
	t.Helper()
	var e xerr
	if err := json.Unmarshal(a.Body, &e); err != nil {
		t.Fatalf("error body %q: %v", a.Body, err)
	}
	return e
}

func (c *client) do(t *testing.T, method, nsid, token, ctype string, body []byte) answer {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.srv.URL+"/xrpc/"+nsid, r)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", nsid, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: %v", nsid, err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

// post sends in as JSON with the access token.
func (c *client) post(t *testing.T, nsid string, in any) answer {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return c.do(t, http.MethodPost, nsid, c.access, "application/json", b)
}

// must fails the test unless the answer is 200, and decodes it into out.
func must(t *testing.T, a answer, out any) {
	t.Helper()
	if a.Status != http.StatusOK {
		t.Fatalf("HTTP %d: %s", a.Status, a.Body)
	}
	if out != nil {
		if err := json.Unmarshal(a.Body, out); err != nil {
			t.Fatalf("%q: %v", a.Body, err)
		}
	}
}

type session struct {
	AccessJwt  string `json:"accessJwt"`
	RefreshJwt string `json:"refreshJwt"`
	Handle     string `json:"handle"`
	DID        string `json:"did"`
}

// login logs in as the product does: handle + app password.
func login(t *testing.T, srv *pds.Server) *client {
	t.Helper()
	c := &client{srv: srv}
	var s session
	must(t, c.post(t, "com.atproto.server.createSession",
		map[string]string{"identifier": srv.Handle, "password": srv.AppPassword}), &s)
	if s.DID != srv.DID || s.Handle != srv.Handle {
		t.Fatalf("session for %s %s, want %s %s", s.Handle, s.DID, srv.Handle, srv.DID)
	}
	c.access, c.refrsh = s.AccessJwt, s.RefreshJwt
	return c
}

var tidMu sync.Mutex
var lastTID int64

// newTID makes a record key as a client would: 53 bits of microseconds since
// the epoch and a 10-bit clock id, top bit 0, in base32-sortable.
func newTID() string {
	tidMu.Lock()
	us := time.Now().UnixMicro()
	if us <= lastTID {
		us = lastTID + 1
	}
	lastTID = us
	tidMu.Unlock()
	const alphabet = "234567abcdefghijklmnopqrstuvwxyz"
	v := (uint64(us)<<10 | 7) &^ (1 << 63)
	var b [13]byte
	for i := 12; i >= 0; i-- {
		b[i] = alphabet[v&31]
		v >>= 5
	}
	return string(b[:])
}

func now() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z") }

type written struct {
	URI    string `json:"uri"`
	CID    string `json:"cid"`
	Commit *struct {
		CID string `json:"cid"`
		Rev string `json:"rev"`
	} `json:"commit"`
	ValidationStatus string `json:"validationStatus"`
}

func (c *client) putPost(t *testing.T, rkey string, record map[string]any) answer {
	t.Helper()
	return c.post(t, "com.atproto.repo.putRecord", map[string]any{
		"repo": c.srv.DID, "collection": post, "rkey": rkey, "record": record, "swapRecord": nil})
}

func (c *client) createPost(t *testing.T, record map[string]any) answer {
	t.Helper()
	return c.post(t, "com.atproto.repo.createRecord", map[string]any{
		"repo": c.srv.DID, "collection": post, "record": record})
}

func text(s string) map[string]any {
	return map[string]any{"$type": post, "text": s, "createdAt": now(), "langs": []string{"en"}}
}

// sameJSON compares two JSON values for meaning (the PDS stores DAG-CBOR,
// so keys come back in its canonical order, not the order sent).
func sameJSON(t *testing.T, got json.RawMessage, want any) {
	t.Helper()
	wb, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(wb, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("stored %s\nsent   %s", got, wb)
	}
}

// wantErr checks an XRPC error answer.
func wantErr(t *testing.T, a answer, status int, name, msgPart string) {
	t.Helper()
	if a.Status != status {
		t.Fatalf("HTTP %d %s, want %d %s", a.Status, a.Body, status, name)
	}
	e := a.err(t)
	if e.Error != name || !strings.Contains(e.Message, msgPart) {
		t.Errorf("got %s, want error %q with message containing %q", a.Body, name, msgPart)
	}
}

// png makes a w×h solid PNG.
func png(w, h int) []byte {
	var raw bytes.Buffer
	for y := 0; y < h; y++ {
		raw.WriteByte(0)
		for x := 0; x < w; x++ {
			raw.Write([]byte{0x80, 0x20, 0x20})
		}
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(raw.Bytes())
	zw.Close()
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		var n [4]byte
		putU32(n[:], uint32(len(data)))
		out.Write(n[:])
		td := append([]byte(typ), data...)
		out.Write(td)
		putU32(n[:], crc32.ChecksumIEEE(td))
		out.Write(n[:])
	}
	ihdr := make([]byte, 13)
	putU32(ihdr[0:], uint32(w))
	putU32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk("IHDR", ihdr)
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	return out.Bytes()
}

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

type blobRef struct {
	Type     string            `json:"$type"`
	Ref      map[string]string `json:"ref"`
	MimeType string            `json:"mimeType"`
	Size     int               `json:"size"`
}

func (c *client) upload(t *testing.T, data []byte, ctype string) answer {
	t.Helper()
	return c.do(t, http.MethodPost, "com.atproto.repo.uploadBlob", c.access, ctype, data)
}

func TestServer(t *testing.T) {
	srv := pds.Start(t)
	c := login(t, srv)

	t.Run("refreshSession", func(t *testing.T) {
		var s session
		old := c.refrsh
		must(t, c.do(t, http.MethodPost, "com.atproto.server.refreshSession", old, "", nil), &s)
		if s.DID != srv.DID || s.AccessJwt == "" || s.RefreshJwt == "" {
			t.Fatalf("refreshed session %+v", s)
		}
		c.access, c.refrsh = s.AccessJwt, s.RefreshJwt
		// The refresh token just used still works within its grace period.
		must(t, c.do(t, http.MethodPost, "com.atproto.server.refreshSession", old, "", nil), nil)
		expired := srv.ExpireToken(t, c.access)
		wantErr(t, c.do(t, http.MethodPost, "com.atproto.repo.createRecord", expired, "application/json", []byte(`{}`)),
			400, "ExpiredToken", "Token has expired")
		wantErr(t, c.do(t, http.MethodPost, "com.atproto.server.refreshSession", srv.ExpireToken(t, c.refrsh), "", nil),
			400, "ExpiredToken", "Token has expired")
		wantErr(t, c.do(t, http.MethodPost, "com.atproto.server.createSession", "", "application/json",
			[]byte(`{"identifier":"`+srv.Handle+`","password":"wrong"}`)),
			401, "AuthenticationRequired", "Invalid identifier or password")
		wantErr(t, c.do(t, http.MethodPost, "com.atproto.repo.createRecord", "garbage", "application/json", []byte(`{}`)),
			400, "InvalidToken", "Token could not be verified")
	})

	t.Run("putRecord is idempotent", func(t *testing.T) {
		rkey := newTID()
		rec := text("Hello from syndicate")
		var first written
		must(t, c.putPost(t, rkey, rec), &first)
		if first.Commit == nil || first.ValidationStatus != "valid" || !strings.HasSuffix(first.URI, "/"+post+"/"+rkey) {
			t.Fatalf("first put: %+v", first)
		}
		// A byte-identical retry: 200, same CID, no commit (nothing written).
		var again written
		must(t, c.putPost(t, rkey, rec), &again)
		if again.CID != first.CID || again.Commit != nil {
			t.Errorf("retry: %+v, want cid %s and no commit", again, first.CID)
		}
		// The same record with its keys in another order is the same record
		// (DAG-CBOR): also a no-op.
		reordered := fmt.Sprintf(`{"swapRecord":null,"record":{"langs":["en"],"createdAt":%q,"text":%q,"$type":%q},"rkey":%q,"collection":%q,"repo":%q}`,
			rec["createdAt"], rec["text"], post, rkey, post, srv.DID)
		var re written
		must(t, c.do(t, http.MethodPost, "com.atproto.repo.putRecord", c.access, "application/json", []byte(reordered)), &re)
		if re.CID != first.CID || re.Commit != nil {
			t.Errorf("reordered retry: %+v", re)
		}
		// A different record on that key: 400 InvalidSwap.
		wantErr(t, c.putPost(t, rkey, text("Something else")), 400, "InvalidSwap", "Record was at "+first.CID)

		got, ok := srv.GetRecord(t, post, rkey)
		if !ok || got.CID != first.CID || got.RKey != rkey {
			t.Fatalf("GetRecord: %+v %v", got, ok)
		}
		sameJSON(t, got.Value, rec)
		n := 0
		for _, r := range srv.ListRecords(t, post) {
			if r.RKey == rkey {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d records with key %s, want 1", n, rkey)
		}
	})

	t.Run("createRecord with a repeated key is a bare 500", func(t *testing.T) {
		rkey := newTID()
		rec := text("once")
		var w written
		must(t, c.post(t, "com.atproto.repo.createRecord",
			map[string]any{"repo": srv.DID, "collection": post, "rkey": rkey, "record": rec}), &w)
		a := c.post(t, "com.atproto.repo.createRecord",
			map[string]any{"repo": srv.DID, "collection": post, "rkey": rkey, "record": text("twice")})
		wantErr(t, a, 500, "InternalServerError", "Internal Server Error")
		got, _ := srv.GetRecord(t, post, rkey)
		if got.CID != w.CID {
			t.Errorf("record changed by the failed create: %s", got.Value)
		}
		wantErr(t, c.post(t, "com.atproto.repo.createRecord",
			map[string]any{"repo": srv.DID, "collection": post, "rkey": "hello", "record": rec}),
			400, "InvalidRequest", `Invalid record key for app.bsky.feed.post: Invalid TID string (got "hello")`)
	})

	t.Run("length limits", func(t *testing.T) {
		must(t, c.createPost(t, text(strings.Repeat("a", 300))), nil)
		wantErr(t, c.createPost(t, text(strings.Repeat("a", 301))), 400, "InvalidRequest",
			"Invalid app.bsky.feed.post record: grapheme too big (maximum 300, got 301) at $.record.text")
		family := "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466" // one grapheme, 25 bytes
		must(t, c.createPost(t, text(strings.Repeat(family, 120))), nil)       // 3000 bytes
		wantErr(t, c.createPost(t, text(strings.Repeat(family, 120)+"a")), 400, "InvalidRequest",
			"Invalid app.bsky.feed.post record: string too big (maximum 3000, got 3001) at $.record.text")
	})

	t.Run("createdAt and langs are validated", func(t *testing.T) {
		for _, ok := range []string{"2026-12-01T19:00:00Z", "2026-12-01T19:00:00.123456Z", "2026-12-01T19:00:00+01:00"} {
			r := text("x")
			r["createdAt"] = ok
			must(t, c.createPost(t, r), nil)
		}
		for _, bad := range []string{"2026-12-01 19:00:00", "2026-12-01T19:00:00", "2026-12-01"} {
			r := text("x")
			r["createdAt"] = bad
			wantErr(t, c.createPost(t, r), 400, "InvalidRequest", fmt.Sprintf("Invalid datetime (got %q) at $.record.createdAt", bad))
		}
		r := text("x")
		delete(r, "createdAt")
		wantErr(t, c.createPost(t, r), 400, "InvalidRequest", `Missing required key "createdAt" at $.record`)
		r = text("x")
		r["langs"] = []string{"en-US"}
		must(t, c.createPost(t, r), nil)
		for _, bad := range []string{"EN", "xx-bogus-tag", "a"} {
			r["langs"] = []string{bad}
			wantErr(t, c.createPost(t, r), 400, "InvalidRequest", fmt.Sprintf("Invalid language (got %q) at $.record.langs[0]", bad))
		}
		r["langs"] = []string{"en", "de", "fr", "es"}
		wantErr(t, c.createPost(t, r), 400, "InvalidRequest", "array too big (maximum 3, got 4) at $.record.langs")
	})

	t.Run("facets and replies are stored as given", func(t *testing.T) {
		s := "Read more: https://example.com/a — café #news"
		link := strings.Index(s, "https://")
		tag := strings.Index(s, "#news")
		head := text(s)
		head["facets"] = []any{
			map[string]any{"index": map[string]int{"byteStart": link, "byteEnd": link + len("https://example.com/a")},
				"features": []any{map[string]string{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/a"}}},
			map[string]any{"index": map[string]int{"byteStart": tag, "byteEnd": tag + len("#news")},
				"features": []any{map[string]string{"$type": "app.bsky.richtext.facet#tag", "tag": "news"}}},
		}
		rkey := newTID()
		var root written
		must(t, c.putPost(t, rkey, head), &root)
		got, _ := srv.GetRecord(t, post, rkey)
		sameJSON(t, got.Value, head)

		ref := map[string]string{"uri": root.URI, "cid": root.CID}
		reply := text("1/ the first key point")
		reply["reply"] = map[string]any{"root": ref, "parent": ref}
		rk2 := newTID()
		must(t, c.putPost(t, rk2, reply), nil)
		got, _ = srv.GetRecord(t, post, rk2)
		sameJSON(t, got.Value, reply)
	})

	t.Run("images", func(t *testing.T) {
		img := png(4, 3)
		var up struct{ Blob blobRef }
		// The declared Content-Type is not trusted: the PDS sniffs PNG.
		must(t, c.upload(t, img, "application/octet-stream"), &up)
		if up.Blob.MimeType != "image/png" || up.Blob.Size != len(img) || up.Blob.Ref["$link"] == "" {
			t.Fatalf("uploadBlob: %+v", up.Blob)
		}
		rec := text("A picture")
		rec["embed"] = map[string]any{"$type": "app.bsky.embed.images", "images": []any{
			map[string]any{"image": up.Blob, "alt": "a red square", "aspectRatio": map[string]int{"width": 4, "height": 3}}}}
		rkey := newTID()
		must(t, c.putPost(t, rkey, rec), nil)
		got, _ := srv.GetRecord(t, post, rkey)
		sameJSON(t, got.Value, rec)
		if b, ok := srv.GetBlob(t, up.Blob.Ref["$link"]); !ok || !bytes.Equal(b, img) {
			t.Errorf("GetBlob: %d bytes, %v", len(b), ok)
		}
		if _, ok := srv.GetBlob(t, "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"); ok {
			t.Error("GetBlob of an unknown CID found something")
		}

		noAlt := text("x")
		noAlt["embed"] = map[string]any{"$type": "app.bsky.embed.images", "images": []any{map[string]any{"image": up.Blob}}}
		wantErr(t, c.createPost(t, noAlt), 400, "InvalidRequest", `Missing required key "alt" at $.record.embed.images[0]`)

		// The size limit is the lexicon's (2,000,000 bytes in this PDS), checked
		// when a record refers to the blob; uploadBlob takes up to 5 MiB.
		for _, n := range []int{2_000_000, 2_000_001} {
			big := append(png(4, 3), make([]byte, n-len(img))...)
			var bu struct{ Blob blobRef }
			must(t, c.upload(t, big, "image/png"), &bu)
			r := text("big")
			r["embed"] = map[string]any{"$type": "app.bsky.embed.images", "images": []any{map[string]any{"image": bu.Blob, "alt": ""}}}
			a := c.createPost(t, r)
			if n == 2_000_000 {
				must(t, a, nil)
			} else {
				wantErr(t, a, 400, "InvalidRequest",
					"Invalid app.bsky.feed.post record: blob too big (maximum 2000000, got 2000001) at $.record.embed.images[0].image")
			}
		}
		wantErr(t, c.upload(t, make([]byte, 5*1024*1024+1), "image/png"), 413, "PayloadTooLarge", "request entity too large")
	})

	t.Run("what else is checked and what is not", func(t *testing.T) {
		var up struct{ Blob blobRef }
		must(t, c.upload(t, png(2, 2), "image/png"), &up)
		var txt struct{ Blob blobRef }
		must(t, c.upload(t, []byte("hello text"), "text/plain"), &txt)
		if txt.Blob.MimeType != "text/plain" {
			t.Errorf("unsniffable blob typed %q", txt.Blob.MimeType)
		}
		var head written
		must(t, c.createPost(t, text("head")), &head)
		missing := map[string]string{"uri": "at://" + srv.DID + "/" + post + "/3aaaaaaaaaaaa", "cid": head.CID}
		facet := func(start, end int, feature map[string]any) []any {
			return []any{map[string]any{"index": map[string]int{"byteStart": start, "byteEnd": end}, "features": []any{feature}}}
		}
		images := func(imgs ...map[string]any) map[string]any {
			list := make([]any, len(imgs))
			for i := range imgs {
				list[i] = imgs[i]
			}
			return map[string]any{"$type": "app.bsky.embed.images", "images": list}
		}
		img := map[string]any{"image": up.Blob, "alt": ""}
		fakeBlob := up.Blob
		fakeBlob.Ref = map[string]string{"$link": "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"}
		for _, tc := range []struct {
			name    string
			field   string
			value   any
			status  int
			errName string
			msg     string
		}{
			{name: "unknown field is stored", field: "syndicateArticle", value: "a-1", status: 200},
			{name: "facet past the text's end is stored", field: "facets",
				value: facet(100, 5000, map[string]any{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/"}), status: 200},
			{name: "facet without features is stored", field: "facets",
				value: []any{map[string]any{"index": map[string]int{"byteStart": 0, "byteEnd": 1}, "features": []any{}}}, status: 200},
			{name: "negative facet index", field: "facets",
				value: facet(-1, 5, map[string]any{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/"}), status: 400,
				errName: "InvalidRequest", msg: "integer too small (minimum 0, got -1) at $.record.facets[0].index.byteStart"},
			{name: "link facet that is no URI", field: "facets",
				value: facet(0, 1, map[string]any{"$type": "app.bsky.richtext.facet#link", "uri": "not a uri"}), status: 400,
				errName: "InvalidRequest", msg: `Invalid uri (got "not a uri") at $.record.facets[0].features[0].uri`},
			{name: "tag over 640", field: "facets",
				value: facet(0, 1, map[string]any{"$type": "app.bsky.richtext.facet#tag", "tag": strings.Repeat("t", 700)}), status: 400,
				errName: "InvalidRequest", msg: "string too big (maximum 640, got 700) at $.record.facets[0].features[0].tag"},
			{name: "reply to a post that does not exist is stored", field: "reply",
				value: map[string]any{"root": missing, "parent": missing}, status: 200},
			{name: "reply without root", field: "reply", value: map[string]any{"parent": missing}, status: 400,
				errName: "InvalidRequest", msg: `Missing required key "root" at $.record.reply`},
			{name: "reply root that is no at-uri", field: "reply",
				value: map[string]any{"root": map[string]string{"uri": "not-at-uri", "cid": head.CID}, "parent": missing}, status: 400,
				errName: "InvalidRequest", msg: `Invalid at-uri (got "not-at-uri") at $.record.reply.root.uri`},
			{name: "five images", field: "embed", value: images(img, img, img, img, img), status: 400,
				errName: "InvalidRequest", msg: "array too big (maximum 4, got 5) at $.record.embed.images"},
			{name: "aspect ratio 0", field: "embed",
				value: images(map[string]any{"image": up.Blob, "alt": "", "aspectRatio": map[string]int{"width": 0, "height": 2}}), status: 400,
				errName: "InvalidRequest", msg: "integer too small (minimum 1, got 0) at $.record.embed.images[0].aspectRatio.width"},
			{name: "long alt text is stored", field: "embed",
				value: images(map[string]any{"image": up.Blob, "alt": strings.Repeat("alt ", 5000)}), status: 200},
			{name: "a text blob as image", field: "embed", value: images(map[string]any{"image": txt.Blob, "alt": ""}), status: 400,
				errName: "InvalidRequest", msg: `Expected "image/*" (got "text/plain") at $.record.embed.images[0].image.mimeType`},
			{name: "a blob never uploaded", field: "embed", value: images(map[string]any{"image": fakeBlob, "alt": ""}), status: 400,
				errName: "BlobNotFound", msg: "Could not find blob: bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"},
			{name: "a string for langs", field: "langs", value: "en", status: 400,
				errName: "InvalidRequest", msg: `Expected array value type (got "en") at $.record.langs`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := text("checked")
				r[tc.field] = tc.value
				a := c.createPost(t, r)
				if tc.status == 200 {
					must(t, a, nil)
					return
				}
				wantErr(t, a, tc.status, tc.errName, tc.msg)
			})
		}
		// validate:false skips the lexicon: never send it.
		a := c.post(t, "com.atproto.repo.createRecord", map[string]any{
			"repo": srv.DID, "collection": post, "record": text(strings.Repeat("a", 301)), "validate": false})
		var w written
		must(t, a, &w)
		if w.ValidationStatus != "" {
			t.Errorf("validate:false gave validationStatus %q", w.ValidationStatus)
		}
		// Reads.
		q := "?repo=" + srv.DID + "&collection=" + post
		wantErr(t, c.do(t, http.MethodGet, "com.atproto.repo.getRecord"+q+"&rkey=3aaaaaaaaaaaa", "", "", nil),
			400, "RecordNotFound", "Could not locate record: at://"+srv.DID+"/"+post+"/3aaaaaaaaaaaa")
		wantErr(t, c.do(t, http.MethodGet, "com.atproto.repo.listRecords"+q+"&limit=101", "", "", nil),
			400, "InvalidRequest", "Invalid com.atproto.repo.listRecords params: integer too big (maximum 100, got 101)")
		wantErr(t, c.do(t, http.MethodGet, "com.atproto.sync.getBlob?did="+srv.DID+"&cid="+fakeBlob.Ref["$link"], "", "", nil),
			400, "InvalidRequest", "Blob not found")
		wantErr(t, c.do(t, http.MethodGet, "app.bsky.actor.getProfile?actor="+srv.Handle, c.access, "", nil),
			400, "InvalidRequest", "No service configured for app.bsky.actor.getProfile")
		wantErr(t, c.post(t, "com.atproto.server.createAppPassword", map[string]string{"name": "again"}),
			400, "InvalidToken", "Bad token scope")
	})

	t.Run("deleteRecord", func(t *testing.T) {
		rkey := newTID()
		must(t, c.putPost(t, rkey, text("short-lived")), nil)
		del := map[string]any{"repo": srv.DID, "collection": post, "rkey": rkey}
		must(t, c.post(t, "com.atproto.repo.deleteRecord", del), nil)
		if _, ok := srv.GetRecord(t, post, rkey); ok {
			t.Error("record still there after deleteRecord")
		}
		must(t, c.post(t, "com.atproto.repo.deleteRecord", del), nil) // deleting again: 200 {}
	})

	t.Run("listRecords pages", func(t *testing.T) {
		for i := 0; i < 105; i++ {
			must(t, c.putPost(t, newTID(), text(fmt.Sprint("page filler ", i))), nil)
		}
		recs := srv.ListRecords(t, post)
		seen := map[string]bool{}
		for _, r := range recs {
			if seen[r.RKey] {
				t.Fatalf("%s listed twice", r.RKey)
			}
			seen[r.RKey] = true
		}
		if len(recs) < 105 {
			t.Errorf("%d records listed", len(recs))
		}
	})

	t.Run("restart keeps the repo, the account and the sessions", func(t *testing.T) {
		rkey := newTID()
		var w written
		must(t, c.putPost(t, rkey, text("before the crash")), &w)
		srv.Restart(t)
		got, ok := srv.GetRecord(t, post, rkey)
		if !ok || got.CID != w.CID {
			t.Fatalf("after restart: %+v %v", got, ok)
		}
		must(t, c.putPost(t, newTID(), text("old token, new process")), nil)
		c2 := login(t, srv)
		must(t, c2.putPost(t, newTID(), text("after the crash")), nil)
	})

	if strings.Contains(srv.Log(), "refused outbound connection") {
		t.Errorf("the PDS tried to reach out:\n%s", grep(srv.Log(), "refused outbound"))
	}
}

func TestRateLimits(t *testing.T) {
	srv := pds.Start(t, pds.WithRateLimits())
	c := &client{srv: srv}
	login := func(password string) answer {
		b, _ := json.Marshal(map[string]string{"identifier": srv.Handle, "password": password})
		return c.do(t, http.MethodPost, "com.atproto.server.createSession", "", "application/json", b)
	}
	// createSession allows 30 calls per 5 minutes per handle and IP, failed
	// ones included. One real login, then 29 with a password over 512
	// characters (refused before the slow scrypt check), then the 31st: 429.
	first := login(srv.AppPassword)
	must(t, first, nil)
	if got := first.Header.Get("RateLimit-Policy"); got != "30;w=300" {
		t.Errorf("RateLimit-Policy %q, want 30;w=300", got)
	}
	if got := first.Header.Get("RateLimit-Remaining"); got != "29" {
		t.Errorf("RateLimit-Remaining %q, want 29", got)
	}
	for i := 1; i < 30; i++ {
		wantErr(t, login(strings.Repeat("x", 513)), 401, "AuthenticationRequired", "Password too long")
	}
	last := login(srv.AppPassword)
	wantErr(t, last, 429, "RateLimitExceeded", "Rate Limit Exceeded")
	h := last.Header
	t.Logf("429 headers: RateLimit-Limit=%s Remaining=%s Reset=%s Policy=%s Retry-After=%s",
		h.Get("RateLimit-Limit"), h.Get("RateLimit-Remaining"), h.Get("RateLimit-Reset"), h.Get("RateLimit-Policy"), h.Get("Retry-After"))
	if h.Get("RateLimit-Remaining") != "0" || h.Get("Retry-After") == "" {
		t.Errorf("429 headers %v", h)
	}
	var reset int64
	fmt.Sscan(h.Get("RateLimit-Reset"), &reset)
	if d := time.Until(time.Unix(reset, 0)); d < 0 || d > 5*time.Minute+time.Second {
		t.Errorf("RateLimit-Reset %s is not a Unix time within the 5-minute window (%v away)", h.Get("RateLimit-Reset"), d)
	}
}

func grep(s, word string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
