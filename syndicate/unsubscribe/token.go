// Package unsubscribe makes and checks the personal one-click unsubscribe
// tokens and serves the RFC 8058 endpoint they point at.
package unsubscribe

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/mail"
	"net/url"
	"strings"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// ErrForged is returned for a token whose signature does not match.
var ErrForged = errors.New("token signature does not match")

// ErrMalformed is returned for a token that is not one of ours at all.
var ErrMalformed = errors.New("malformed token")

var b64 = base64.RawURLEncoding

// Token returns the reader's token: their address and an HMAC-SHA256 over
// the list and the address, keyed with the state's secret. It holds no
// secret and proves the link was made by us for this reader and list.
func Token(secret []byte, list, email string) string {
	key := syndicate.EmailKey(email)
	return b64.EncodeToString([]byte(key)) + "." + b64.EncodeToString(sign(secret, list, key))
}

func sign(secret []byte, list, key string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(list))
	m.Write([]byte{0})
	m.Write([]byte(key))
	return m.Sum(nil)[:16]
}

// DryRunToken is a token of the reader's token's shape and length whose
// signature is all zeros: a dry run's .eml looks exactly like the real
// message, but its link unsubscribes nobody (Verify says ErrForged).
func DryRunToken(email string) string {
	return b64.EncodeToString([]byte(syndicate.EmailKey(email))) + "." + b64.EncodeToString(make([]byte, 16))
}

// Verify checks a token and returns the address it unsubscribes.
func Verify(secret []byte, list, token string) (string, error) {
	addr, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > 1024 {
		return "", ErrMalformed
	}
	rawAddr, err := b64.DecodeString(addr)
	if err != nil {
		return "", ErrMalformed
	}
	rawSig, err := b64.DecodeString(sig)
	if err != nil || len(rawSig) != 16 {
		return "", ErrMalformed
	}
	email := string(rawAddr)
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		return "", ErrMalformed
	}
	if len(secret) == 0 || !hmac.Equal(rawSig, sign(secret, list, email)) {
		return "", ErrForged
	}
	return email, nil
}

// Link returns the reader's unsubscribe URL: base with the token added as
// the query parameter "token".
func Link(base, token string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	q := u.Query()
	q.Set("token", token)
	u.RawQuery = q.Encode()
	return u.String()
}
