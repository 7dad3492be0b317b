// Package syndicate holds the domain types that flow through the bot —
// articles, threads, posts and limits — and the small interfaces that the
// sources and outlets meet. The packages below it each own one concern:
// article parsing, thread composition, the digest, the state store, the
// Mastodon, Bluesky and SMTP outlets, the jobs and the daemon.
package syndicate

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Article is one file from the articles folder, parsed and normalised.
type Article struct {
	// ID is the file name without its extension; it is stable across edits
	// and is the key of everything recorded about the article.
	ID string
	// Path is the file the article was read from.
	Path      string
	Title     string
	URL       string
	Date      time.Time // from front matter; zero when absent
	ModTime   time.Time // the file's modification time
	Tags      []string
	KeyPoints []string
	// KeyPointsExtracted is true when the key points were chosen from the
	// body by the extractor rather than written by a person.
	KeyPointsExtracted bool
	Body               []string // paragraphs
	Image              *Image
	Lang               string
	ContentWarning     string
	Draft              bool
	// Hash is a digest of the file's bytes; an edit changes it.
	Hash string
	// Source is where the article came from: "folder", or "feed:<name>".
	Source string
	// Correction is the front matter's correction: text, added as a reply
	// "Correction: …" to the article's threads (once per distinct text)
	// and carried by the next digest; "" for none.
	Correction string
	// Retracted is the front matter's retracted: true (or a file gone
	// from the folder under mastodon.on_delete: delete): the article's
	// threads are deleted and it is never posted again.
	Retracted bool
}

// FromFeed reports whether the article is a feed's item.
func (a *Article) FromFeed() bool { return strings.HasPrefix(a.Source, "feed:") }

// When is the time the article is ordered by: its front-matter date, or the
// file's modification time when it has none.
func (a *Article) When() time.Time {
	if !a.Date.IsZero() {
		return a.Date
	}
	return a.ModTime
}

// Image is the article's picture: a file (Path) of an article from the
// folder, or a public URL (URL) of a feed item's picture or front
// matter's image_url. Both are empty when the article only carries a
// caption and credit (the plain-text news form prints them without
// shipping the picture).
type Image struct {
	Path   string
	URL    string
	Alt    string
	Credit string
	// Width and Height are the picture's size in pixels, 0 when unknown
	// (the digest reads a file's own from its header).
	Width, Height int
}

// Limits are the server rules a thread is composed against.
type Limits struct {
	MaxCharacters    int // per post, spoiler text included
	URLLength        int // every URL counts as this many characters
	MaxMedia         int // attachments per post
	DescriptionLimit int // alt text length
	// ImageSizeLimit is the largest picture the server takes, in bytes
	// (0: it does not say); ImageTypes the MIME types it takes (none: it
	// does not say).
	ImageSizeLimit int64
	ImageTypes     []string
	// Counting is how the server counts a post's length (see
	// thread.Counting): "mastodon", "gotosocial", "pleroma" or "strict".
	Counting string
	// Software and Version are what the server says it is (NodeInfo).
	Software, Version string
	// IdempotencyKeys is true for a server known to answer a repeated
	// Idempotency-Key with the original post (GoToSocial ignores it).
	IdempotencyKeys bool
	// ShrinksImages is true for an outlet whose Upload makes a larger
	// picture fit ImageSizeLimit itself (Bluesky re-encodes and scales
	// it): the picture is read up to files.MaxImageSize, and when it
	// cannot be made to fit Upload says ErrPictureTooLarge.
	ShrinksImages bool
}

// DefaultLimits are Mastodon's stock values, used by dry runs and when a
// server does not say.
func DefaultLimits() Limits {
	return Limits{MaxCharacters: 500, URLLength: 23, MaxMedia: 4, DescriptionLimit: 1500, Counting: "mastodon"}
}

// ServerInfo is what a live run learned of the Mastodon-API server, kept
// in the state so a dry run (which opens no connection) composes as the
// server will count.
type ServerInfo struct {
	Limits
	SeenAt time.Time
}

// FeedState is what the state keeps of a feed between fetches.
type FeedState struct {
	URL string
	// ETag and LastModified are the last answer's, for a conditional GET.
	ETag, LastModified string
	// FetchedAt is the last fetch that worked; zero means never, and the
	// next one that works adopts the feed's items.
	FetchedAt time.Time
	// AdoptedAt is when the items in the feed at its first fetch were
	// recorded as done (all but the newest backfill).
	AdoptedAt time.Time
	// RetryAt is when the server said to come back (Retry-After).
	RetryAt time.Time
	// Problem is the last fetch's error ("" when it worked).
	Problem string
}

// Thread is the chain of posts made for one article.
type Thread struct {
	ArticleID string
	// Source is the article's: "folder", or "feed:<name>".
	Source string
	Title  string
	URL    string
	Posts  []Post
}

// Post is one status of a thread.
type Post struct {
	Text           string
	ContentWarning string
	Visibility     string
	Language       string
	Media          []Media
	// Card is the link card of a head post, on a network where the
	// client writes it into the post (Bluesky); nil elsewhere.
	Card *Card
	// Length is the length the network counts for Text and
	// ContentWarning, by its counting rule.
	Length int
}

// Card is a link card: the article's URL, title and a description.
type Card struct {
	URL, Title, Description string
}

// Media is an attachment of a post.
type Media struct {
	// File is the picture's file, or for a feed item its http(s) URL.
	File        string
	Description string
}

// Picture is an image read for posting: its file name, its MIME type as
// its bytes say, and the bytes.
type Picture struct {
	Name string
	Type string
	Data []byte
}

// Reader is one digest subscriber.
type Reader struct {
	Email string
	Name  string
	// Fields holds every column of the subscriber row, for templates.
	Fields map[string]string
}

// EmailKey is the form addresses are compared and recorded in.
func EmailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// Article states in the ledger.
const (
	StatePosting = "posting" // a thread is planned and partly posted
	StatePosted  = "posted"
	StateFailed  = "failed"  // waits for --retry or an edit of its file
	StateAdopted = "adopted" // recorded as posted without posting (--mark-posted)
	// StateEditing is a posted thread whose article changed: its edits,
	// deletes and new replies are planned and partly applied.
	StateEditing = "editing"
	// StateRetracting is a thread being deleted; StateRetracted one that
	// was (the article is never posted again).
	StateRetracting = "retracting"
	StateRetracted  = "retracted"
)

// ArticleRecord is what the ledger holds about an article on one
// network: each network's thread has a record of its own.
type ArticleRecord struct {
	ID           string
	Network      string // NetworkMastodon, NetworkBluesky
	State        string
	Hash         string // the file's hash when its thread was planned
	FailedHash   string // the file's hash when it failed
	Reason       string // the server's reason for a failure
	HeadURL      string
	PostedAt     time.Time // when the head post was made
	UpdatedAt    time.Time
	PostsDone    int
	PostsPlanned int
	// Source is "folder" for an article that came from the folder, or
	// "feed" for a feed's item (the state keeps every item it saw).
	Source string
	// EditedAt, CorrectedAt and RetractedAt are when a post of the thread
	// was last edited in place, when a correction reply was last posted,
	// and when the thread was deleted (zero: never).
	EditedAt, CorrectedAt, RetractedAt time.Time
	// Changes is how many planned edits and deletes are not applied yet.
	Changes int
}

// PlannedPost is one post of a thread as recorded before it is sent.
type PlannedPost struct {
	Index          int
	Text           string
	ContentWarning string
	Visibility     string
	Language       string
	MediaFile      string
	MediaAlt       string
	// IdempotencyKey is set when the post is sent: it depends on the
	// status the post replies to (see job.IdempotencyKey).
	IdempotencyKey string
	// RecordKey and CreatedAt are fixed when the post is planned, before
	// the first attempt, on a network whose retries must send the very
	// same record (Bluesky: a TID record key and the record's createdAt).
	RecordKey string
	CreatedAt time.Time
	// CardURL, CardTitle and CardDescription are the link card of a head
	// post without a picture, on a network where the client writes the
	// card into the post instead of the server fetching the page
	// (Bluesky's app.bsky.embed.external): the article's URL, title and a
	// description. Empty CardURL: no card. They are part of the record a
	// retry must repeat, so the ledger keeps them with the post.
	CardURL, CardTitle, CardDescription string
	// AttemptedAt is set once a request may have reached the server.
	AttemptedAt time.Time
	StatusID    string // set once the post is known to exist
	URL         string
	CID         string // the post's content hash, where replies name it (Bluesky)
	// Kind is what the post is in its thread: PostThread (a post of the
	// composition: head and key points, compared with the next
	// composition by position), PostCorrection (a reply "Correction: …",
	// never compared) or PostRemoved (a post whose key point was removed,
	// edited to "(removed)" because replies follow it).
	Kind string
	// Note is a correction reply's front-matter text ("" for a reply that
	// corrects a changed post): a text is posted once.
	Note string
	// EditedAt is when the post was last edited in place; DeletedAt when
	// it was deleted (a deleted post is kept in the ledger, and is no
	// longer part of the thread).
	EditedAt, DeletedAt time.Time
}

// Kinds of posts in a thread (PlannedPost.Kind).
const (
	PostThread     = "post"
	PostCorrection = "correction"
	PostRemoved    = "removed"
)

// Kinds of planned changes (PlannedChange.Kind).
const (
	ChangeEdit   = "edit"   // the post is edited in place (Editor)
	ChangeRemove = "remove" // the post is edited to "(removed)" (Editor)
	ChangeDelete = "delete" // the post is deleted (Deleter)
)

// PlannedChange is a change of a post already made, planned in the ledger
// before the first request: an edit in place (Post is the new content),
// or a delete.
type PlannedChange struct {
	Index int // the post's Index
	Kind  string
	// Post is the post's new content (ChangeEdit, ChangeRemove).
	Post PlannedPost
}

// EditPlan is what the change of an article's thread on one network
// does, recorded at once: the changes of posts made, and the new posts
// (key points added, correction replies) chained after the thread's last
// post in the order given (their Index is given by the ledger).
type EditPlan struct {
	Hash    string // the article's hash the plan was made from
	Changes []PlannedChange
	// Corrected are posts whose change goes out as correction replies
	// (in Posts) on a network that cannot edit: their recorded content
	// becomes the new one at once, so the change is not made twice.
	Corrected []PlannedChange
	Posts     []PlannedPost
	// Retract makes it a retraction: the thread is being deleted.
	Retract bool
	// Notices are what the next digest says of the article (a
	// correction's text, a retraction), kept once per article and text.
	Notices []Notice
}

// Notice is a correction or retraction the next digest carries.
type Notice struct {
	ArticleID string    `json:"id"`
	Kind      string    `json:"kind"` // NoticeCorrection, NoticeRetraction
	Title     string    `json:"title"`
	URL       string    `json:"url,omitempty"` // none for a retraction
	Text      string    `json:"text,omitempty"`
	At        time.Time `json:"at,omitzero"`
}

// Kinds of notices.
const (
	NoticeCorrection = "correction"
	NoticeRetraction = "retraction"
)

// DigestItem is one article as a digest shows it; a digest's items are
// recorded when it starts, so a resumed digest mails the same text.
type DigestItem struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	URL         string    `json:"url,omitempty"`
	Date        time.Time `json:"date,omitzero"`
	KeyPoints   []string  `json:"key_points,omitempty"`
	ImageAlt    string    `json:"image_alt,omitempty"`
	ImageCredit string    `json:"image_credit,omitempty"`
	// Image is the picture the HTML part shows: nil when the article has
	// no public picture URL.
	Image *DigestImage `json:"image,omitempty"`
}

// DigestImage is a digest item's picture: its public URL (checked with
// CheckImageURL), its alt text and its size in pixels as the picture has
// it (0 when unknown; the digest scales it for display).
type DigestImage struct {
	URL    string `json:"url"`
	Alt    string `json:"alt,omitempty"`
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
}

// Digest states in the ledger.
const (
	DigestPreparing = "preparing" // its articles are fixed; its readers are being added
	DigestSending   = "sending"   // its readers are fixed; messages go out
	DigestDone      = "done"      // every reader has an outcome
)

// DigestRecord is a digest as the ledger holds it.
type DigestRecord struct {
	ID          int64
	State       string // DigestPreparing, DigestSending, DigestDone
	CreatedAt   time.Time
	CompletedAt time.Time
	Articles    int // mailed in full
	Omitted     int // beyond email.max_articles: one line, counted as mailed
	Sent        int
	Failed      int
	Pending     int
}

// Delivery is one reader of a digest.
type Delivery struct {
	Key      string // EmailKey of the address
	Reader   Reader
	State    string // pending, sent, temp, failed
	Attempts int
}

// Delivery states.
const (
	DeliveryPending = "pending"
	DeliverySent    = "sent"
	DeliveryTemp    = "temp"   // a 4xx: retried
	DeliveryFailed  = "failed" // a 5xx: not retried but by --retry-failed
)

// Outcome is the result of one send.
type Outcome struct {
	Key   string
	State string
	Reply string
}

// Status is a post as the server created it.
type Status struct {
	ID  string // Mastodon: the status ID; Bluesky: the record's at:// URI
	URL string // where people see it
	CID string // Bluesky: the record's content hash, which replies name
}

// Ref is a post a reply answers: its ID and, where the network names the
// exact version (Bluesky's strong refs), its CID.
type Ref struct {
	ID  string
	CID string
}

// Networks a thread may be posted to.
const (
	NetworkMastodon = "mastodon"
	NetworkBluesky  = "bluesky"
)

// AllNetworks are the networks there are, configured or not.
var AllNetworks = []string{NetworkMastodon, NetworkBluesky}

// Outlet is a network threads are posted to: Mastodon, Bluesky. Every
// post is planned in the ledger before its first attempt, and an outlet
// makes a retry of it harmless (Mastodon: an idempotency key and reading
// the account's statuses; Bluesky: a record written under its planned key,
// which a repeat cannot write twice).
type Outlet interface {
	// Network is the outlet's name in the ledger: NetworkMastodon, …
	Network() string
	// Limits are the server's rules for posts (Limits.Counting says how
	// length is counted).
	Limits(ctx context.Context) (Limits, error)
	// Plan fixes, before the first attempt, what a retry must repeat
	// exactly (RecordKey, CreatedAt); now is the planning time.
	Plan(p *PlannedPost, now time.Time)
	// Upload uploads a picture with its alt text and returns what a post
	// attaches (a media ID, a blob reference).
	Upload(ctx context.Context, pic Picture, description string) (string, error)
	// Post makes one post replying to parent (and root, the thread's
	// head; both zero for a head post), with the media Upload returned.
	Post(ctx context.Context, p PlannedPost, parent, root Ref, media []string) (Status, error)
	// FindPosted looks for a post made since the given time whose outcome
	// is unknown; an outlet whose retries cannot duplicate returns false.
	FindPosted(ctx context.Context, p PlannedPost, parent Ref, since time.Time) (Status, bool, error)
}

// ErrPartial reports that a run finished but some items (articles,
// readers) failed; they were reported one by one, and the rest was done.
var ErrPartial = errors.New("some articles or readers failed (see above)")

// Error kinds the post job acts on. Any other error is transient: the
// article stays in progress and the next run resumes it.
var (
	// ErrUnauthorized is a 401 or 403: the token (Bluesky: the app
	// password, or the session) is wrong or lacks a scope. The network's
	// run stops and nothing is recorded as posted.
	ErrUnauthorized = errors.New("the server refused the credentials (access token or app password)")
	// ErrRejected is a refusal the server will repeat (422, 404): the
	// article fails with the server's reason and waits for a retry or an
	// edit of its file.
	ErrRejected = errors.New("the server rejected the post")
	// ErrPictureTooLarge is an Upload's answer for a picture that cannot
	// be made small enough for the network (see Limits.ShrinksImages):
	// nothing was uploaded, and the post goes without it (a head post
	// then carries its link card).
	ErrPictureTooLarge = errors.New("the picture cannot be made small enough for the network")
	// ErrNoEdits is an Editor's answer when the server cannot edit posts
	// (it has no such route: 404 or 405 on an edit of a post that
	// exists): the change goes out as a reply "Correction: …" instead.
	ErrNoEdits = errors.New("the server cannot edit posts")
)

// Editor is an Outlet add-on: editing a post in place (Mastodon's PUT
// /api/v1/statuses/:id). An edit is idempotent: sent again it changes
// nothing more.
type Editor interface {
	// Edit replaces the post id's text, content warning, language and
	// media with p's. keepMedia keeps its attachment (p.MediaAlt its new
	// alt text); otherwise media are the new attachments Upload returned
	// (none: the post loses its picture). A post deleted on the server
	// is ErrRejected saying so; a server that cannot edit, ErrNoEdits.
	Edit(ctx context.Context, id string, p PlannedPost, keepMedia bool, media []string) (Status, error)
}

// Deleter is an Outlet add-on: deleting a post. A post that is not there
// (deleted already) is deleted: nil.
type Deleter interface {
	Delete(ctx context.Context, st Ref) error
}

// PostLedger is the part of the state the post job needs. Every thread
// is kept per article and network: the same article has a thread on
// Mastodon and one on Bluesky, each with its own state and posts.
type PostLedger interface {
	// ArticleRecords are the records of one network, by article ID.
	ArticleRecords(ctx context.Context, network string) (map[string]ArticleRecord, error)
	PlanThread(ctx context.Context, network, articleID, hash string, posts []PlannedPost) error
	PlannedPosts(ctx context.Context, network, articleID string) ([]PlannedPost, error)
	MarkAttempt(ctx context.Context, network, articleID string, idx int) error
	// RecordPost records the post a planned one became (its ID, URL and,
	// on Bluesky, CID).
	RecordPost(ctx context.Context, network, articleID string, idx int, st Status) error
	FinishArticle(ctx context.Context, network, articleID string) error
	FailArticle(ctx context.Context, network, articleID, hash, reason string) error
	// ServerInfo and RememberServer keep what the last run learned of a
	// server.
	ServerInfo(ctx context.Context, server string) (ServerInfo, bool, error)
	RememberServer(ctx context.Context, server string, info ServerInfo) error

	// Changes of threads already made (edits, deletes, new replies).

	// PlanEdit records, in one transaction, the change of a thread made
	// (or partly made) on a network: the changes of posts made, the new
	// posts, the article editing (retracting for a retraction) with the
	// plan's hash, and the notices for the digest. Unmade posts not in
	// doubt are dropped first; changes not yet applied are replaced.
	PlanEdit(ctx context.Context, network, articleID string, plan EditPlan) error
	// PlannedChanges returns the changes not yet applied, in the order
	// they are applied (deletes from the thread's end back, then edits).
	PlannedChanges(ctx context.Context, network, articleID string) ([]PlannedChange, error)
	// ApplyChange records a change as applied (an edit's new content is
	// the post's, a deleted post is no longer in the thread).
	ApplyChange(ctx context.Context, network, articleID string, c PlannedChange) error
	// CorrectInstead replaces a planned edit the server cannot make with
	// correction replies appended to the thread, in one transaction; the
	// post's recorded content becomes the edit's.
	CorrectInstead(ctx context.Context, network, articleID string, idx int, posts []PlannedPost) error
	// UpdateHash records that an article's change changes no post: only
	// its hash is kept.
	UpdateHash(ctx context.Context, network, articleID, hash string) error
}
