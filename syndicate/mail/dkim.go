package mail

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/emersion/go-msgauth/dkim"
)

// SignedHeaders are the headers a DKIM signature covers: the ones a reader
// sees, the MIME structure, and the one-click unsubscribe headers, which
// RFC 8058 wants signed.
var SignedHeaders = []string{"From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post", "MIME-Version", "Content-Type"}

// Signer signs messages with DKIM (RFC 6376) using go-msgauth, relaxed
// canonicalization, RSA or Ed25519 (RFC 8463). go-mail's own signer is not
// used: it folds the h= list it signed, inside a header name, and no
// verifier accepts the result.
type Signer struct {
	Domain, Selector string
	key              crypto.Signer
}

// NewSigner reads a PEM private key: RSA (PKCS #1 or #8) or Ed25519
// (PKCS #8).
func NewSigner(domain, selector string, pemBytes []byte) (*Signer, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var key crypto.Signer
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		key = k
	} else if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		switch k := k.(type) {
		case *rsa.PrivateKey:
			key = k
		case ed25519.PrivateKey:
			key = k
		default:
			return nil, fmt.Errorf("a %T key: want RSA or Ed25519", k)
		}
	} else {
		return nil, errors.New("not an RSA or Ed25519 private key")
	}
	if k, ok := key.(*rsa.PrivateKey); ok && k.N.BitLen() < 1024 {
		return nil, fmt.Errorf("a %d-bit RSA key: receivers want at least 1024 bits (2048 is usual)", k.N.BitLen())
	}
	return &Signer{Domain: domain, Selector: selector, key: key}, nil
}

// Sign returns the message with a DKIM-Signature header in front.
func (s *Signer) Sign(raw []byte) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(len(raw) + 700)
	err := dkim.Sign(&out, bytes.NewReader(raw), &dkim.SignOptions{
		Domain: s.Domain, Selector: s.Selector, Signer: s.key, Hash: crypto.SHA256,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
		HeaderKeys: SignedHeaders,
	})
	if err != nil {
		return nil, fmt.Errorf("DKIM: %w", err)
	}
	return out.Bytes(), nil
}
