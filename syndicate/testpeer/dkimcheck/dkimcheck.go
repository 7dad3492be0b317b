// Package dkimcheck verifies the DKIM signatures of a raw message in tests
// with github.com/emersion/go-msgauth/dkim, against a key the test holds:
// no DNS is asked, the key record is handed to the verifier directly.
//
// Verify wants the message exactly as it goes on the wire (CRLF line
// ends), e.g. what Mailpit's /raw returns or what go-mail's WriteTo wrote.
package dkimcheck

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// Verification is one checked signature; Err is nil when it is valid.
type Verification = dkim.Verification

// TXTRecord returns the DNS TXT record that publishes pub (RFC 6376 §3.6.1,
// RFC 8463): "v=DKIM1; k=rsa; p=<base64 SubjectPublicKeyInfo>" or
// "v=DKIM1; k=ed25519; p=<base64 of the 32 key bytes>". pub may also be
// the private key.
func TXTRecord(pub crypto.PublicKey) (string, error) {
	if s, ok := pub.(crypto.Signer); ok {
		pub = s.Public()
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k), nil
	}
	return "", fmt.Errorf("dkimcheck: unsupported key type %T", pub)
}

// Check verifies every DKIM-Signature in raw. key is the signer's key for
// whatever selector and domain the signature names: a crypto.PublicKey
// (*rsa.PublicKey, ed25519.PublicKey, or the private key), or a TXT record
// string; or a map[string]string from DNS name
// ("sel._domainkey.example.org") to TXT record, when the selector and
// domain matter. It returns all verifications, and an error when there
// is no signature or none verifies.
func Check(raw []byte, key any) ([]*Verification, error) {
	lookup, err := lookupFor(key)
	if err != nil {
		return nil, err
	}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: lookup})
	if err != nil {
		return vs, fmt.Errorf("dkimcheck: %w", err)
	}
	if len(vs) == 0 {
		return vs, errors.New("dkimcheck: the message has no DKIM-Signature")
	}
	var errs []string
	for i, v := range vs {
		if v.Err == nil {
			return vs, nil
		}
		errs = append(errs, fmt.Sprintf("signature %d (d=%s): %v", i+1, v.Domain, v.Err))
	}
	return vs, errors.New("dkimcheck: no signature verifies: " + strings.Join(errs, "; "))
}

// Verify is Check that fails the test when no signature verifies. It
// returns all verifications (a failed one among them is logged).
func Verify(t testing.TB, raw []byte, key any) []*Verification {
	t.Helper()
	vs, err := Check(raw, key)
	if err != nil {
		t.Fatalf("%v\n--- message headers ---\n%s", err, headers(raw))
	}
	for i, v := range vs {
		if v.Err != nil {
			t.Logf("dkimcheck: signature %d (d=%s) does not verify: %v", i+1, v.Domain, v.Err)
		}
	}
	return vs
}

// Valid returns the verifications that passed.
func Valid(vs []*Verification) []*Verification {
	var ok []*Verification
	for _, v := range vs {
		if v.Err == nil {
			ok = append(ok, v)
		}
	}
	return ok
}

// RequireHeaders fails the test unless the signature's h= tag covers every
// named header field (case-insensitively).
func RequireHeaders(t testing.TB, v *Verification, names ...string) {
	t.Helper()
	signed := map[string]bool{}
	for _, k := range v.HeaderKeys {
		signed[strings.ToLower(strings.TrimSpace(k))] = true
	}
	var missing []string
	for _, n := range names {
		if !signed[strings.ToLower(n)] {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("dkimcheck: h= does not sign %s (h=%s)", strings.Join(missing, ", "), strings.Join(v.HeaderKeys, ":"))
	}
}

func lookupFor(key any) (func(string) ([]string, error), error) {
	if keys, ok := key.(map[string]string); ok {
		m := make(map[string]string, len(keys))
		for name, r := range keys {
			m[strings.ToLower(strings.TrimSuffix(name, "."))] = r
		}
		return func(name string) ([]string, error) {
			if r, ok := m[strings.ToLower(strings.TrimSuffix(name, "."))]; ok {
				return []string{r}, nil
			}
			return nil, fmt.Errorf("no TXT record for %s in the test's keys", name)
		}, nil
	}
	record, ok := key.(string)
	if !ok {
		var err error
		if record, err = TXTRecord(key); err != nil {
			return nil, err
		}
	}
	return func(string) ([]string, error) { return []string{record}, nil }, nil
}

// headers returns the header block of raw, for failure messages.
func headers(raw []byte) []byte {
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return raw[:i]
	}
	if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		return raw[:i]
	}
	return raw
}
