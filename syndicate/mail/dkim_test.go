package mail

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// rsa512 is too small a key for DKIM (made with openssl; Go no longer
// makes keys under 1024 bits).
const rsa512 = `-----BEGIN RSA PRIVATE KEY-----
MIIBOgIBAAJBAL/DvGoRog49MbLZjUXAan5ZzVyLsV9fgtZdt3Y+YJElO2NhIlqj
mv2mDTnvCcZSpF7vxNiiXJQK9AtRCUu2iIkCAwEAAQJAYdFgjOKNvaGtdkPO8mOi
bu0z+h8vzSyVOu/3I5PSAncOKn5mvy5RMd1tHxhKUeTb7g+mcDUbI6ruVJBiGf86
uQIhAPai3TlPwgJrcsHU6xqsJVlw2+Cs85U6R5haZOz8cYznAiEAxwuOquz6IPCO
D/tAHQhDlAYz9VM/EmQdrJeGCty+oQ8CIQCUk1ghhmKhgokHK3TWBI4ba1mJ56Z1
Zz5qEUprWUguUQIgLog0JR9bZkH2ZCQPm/nnmn5MvUhl0U3YZhXSP03Vvt8CIEwz
TPMHnzhv539yjSX8DZ9skMFNcKkcCSZyS7ntucez
-----END RSA PRIVATE KEY-----
`

// TestNewSigner: the keys email.dkim.private_key_file may hold; each
// accepted one signs a message that verifies against its public key.
func TestNewSigner(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	rsaPub, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaTXT := "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(rsaPub)
	tests := []struct {
		name    string
		pem     []byte
		txt     string // the DNS record of an accepted key
		wantErr string
	}{
		{name: "RSA, PKCS #1", pem: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), txt: rsaTXT},
		{name: "RSA, PKCS #8", pem: pkcs8(rsaKey), txt: rsaTXT},
		{name: "a 512-bit RSA key", pem: []byte(rsa512), wantErr: "512-bit"},
		{name: "ECDSA", pem: pkcs8(ecKey), wantErr: "want RSA or Ed25519"},
		{name: "not PEM", pem: []byte("-----BEGIN nothing"), wantErr: "no PEM block"},
		{name: "PEM of no key", pem: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("junk")}), wantErr: "not an RSA or Ed25519"},
	}
	for _, tt := range tests {
		s, err := NewSigner("example.org", "s1", tt.pem)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err %v, want one saying %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		raw := "From: brief@example.org\r\nTo: r@example.net\r\nSubject: Hi\r\n\r\nHello\r\n"
		signed, err := s.Sign([]byte(raw))
		if err != nil {
			t.Fatalf("%s: Sign: %v", tt.name, err)
		}
		if got := string(signed); !strings.HasPrefix(got, "DKIM-Signature: ") || !strings.HasSuffix(got, raw) {
			t.Errorf("%s: signed message %q", tt.name, got)
		}
		vs, err := dkim.VerifyWithOptions(strings.NewReader(string(signed)), &dkim.VerifyOptions{LookupTXT: func(string) ([]string, error) { return []string{tt.txt}, nil }})
		if err != nil || len(vs) != 1 || vs[0].Err != nil {
			t.Errorf("%s: verification %v %+v", tt.name, err, vs)
		}
	}
}
