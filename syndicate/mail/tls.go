package mail

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// probeWait is how long the probe waits for the relay's greeting. A relay
// greets at once (postscreen's pregreet test sends its first line at once
// too); one that says nothing may be waiting for a TLS handshake.
const probeWait = 5 * time.Second

func tlsConfig(opts SMTPOptions) *tls.Config {
	return &tls.Config{ServerName: opts.Host, RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12}
}

func (opts SMTPOptions) addr() string { return net.JoinHostPort(opts.Host, strconv.Itoa(opts.Port)) }

// probe makes one connection before anything is sent and checks that the
// relay speaks what email.smtp.tls says: a plain greeting for starttls and
// none, a TLS handshake with a trusted certificate for tls. A mismatch is
// a *SetupError with the setting to change, found within seconds (without
// it, STARTTLS against an implicit-TLS port waits out every timeout).
// Anything the probe cannot tell is left to the send itself.
func probe(ctx context.Context, opts SMTPOptions) error {
	wait := min(opts.Timeout, probeWait)
	if wait <= 0 {
		wait = probeWait
	}
	d := net.Dialer{Timeout: wait}
	raw, err := d.DialContext(ctx, "tcp", opts.addr())
	if err != nil {
		return nil // the send reports the relay down, with its retries
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(wait))
	if opts.TLS == "tls" {
		c := tls.Client(raw, tlsConfig(opts))
		err := c.HandshakeContext(ctx)
		var rh tls.RecordHeaderError
		switch {
		case err == nil:
			c.Write([]byte("QUIT\r\n"))
			return nil
		case errors.As(err, &rh):
			return &SetupError{Err: ErrTLS, Detail: fmt.Sprintf("port %d answers in plain text, not with a TLS handshake", opts.Port),
				Hint: fmt.Sprintf("port %d speaks plain SMTP: set email.smtp.tls: starttls (implicit TLS is usually port 465)", opts.Port)}
		}
		if p := certificateProblem(err, opts); p != nil {
			return p
		}
		return nil
	}
	line, err := bufio.NewReader(raw).ReadString('\n')
	if err == nil {
		raw.Write([]byte("QUIT\r\n"))
		if code, _ := strconv.Atoi(line[:min(3, len(line))]); code >= 500 {
			return &SetupError{Err: ErrRefused, Detail: "the relay's greeting: " + strings.TrimSpace(line), Hint: "the relay will not take mail from this machine"}
		}
		return nil
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		return nil
	}
	// Silence: does the port want a TLS handshake?
	raw2, err := d.DialContext(ctx, "tcp", opts.addr())
	if err != nil {
		return nil
	}
	defer raw2.Close()
	raw2.SetDeadline(time.Now().Add(wait))
	c := tls.Client(raw2, &tls.Config{ServerName: opts.Host, InsecureSkipVerify: true}) // only asking whether it speaks TLS
	if c.HandshakeContext(ctx) == nil {
		return &SetupError{Err: ErrTLS, Detail: fmt.Sprintf("port %d sends no greeting but answers a TLS handshake", opts.Port),
			Hint: fmt.Sprintf("port %d speaks implicit TLS: set email.smtp.tls: tls", opts.Port)}
	}
	return nil
}

// setupProblem recognises a dial error that retrying will not mend: a
// refused login (by its reply code), an untrusted certificate, a relay
// without STARTTLS.
func setupProblem(err error, opts SMTPOptions) *SetupError {
	switch replyCode(err) {
	case 535, 534, 538:
		return &SetupError{Err: ErrAuth, Detail: reply(err), Hint: "check email.smtp.username and the password in its environment variable"}
	case 530:
		return &SetupError{Err: ErrRefused, Detail: reply(err), Hint: "the relay wants TLS or a login first: set email.smtp.tls: starttls (or tls) and email.smtp.username"}
	}
	if p := certificateProblem(err, opts); p != nil {
		return p
	}
	if strings.Contains(err.Error(), "STARTTLS") && strings.Contains(strings.ToLower(err.Error()), "not support") {
		return &SetupError{Err: ErrTLS, Detail: reply(err),
			Hint: "the relay does not offer STARTTLS: set email.smtp.tls: tls if it speaks implicit TLS (port 465), or none only for a relay on this machine"}
	}
	return nil
}

// certificateProblem says what is wrong with the relay's certificate.
func certificateProblem(err error, opts SMTPOptions) *SetupError {
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	hint := "set email.smtp.ca_file to the CA that signed the relay's certificate, or give the relay a certificate from a public CA"
	switch {
	case errors.As(err, &hostname):
		return &SetupError{Err: ErrTLS, Detail: "the relay's certificate is not for " + opts.Host + ": " + hostname.Error(),
			Hint: "set email.smtp.host to a name the certificate is for"}
	case errors.As(err, &invalid):
		return &SetupError{Err: ErrTLS, Detail: "the relay's certificate is not valid: " + invalid.Error(), Hint: "renew the relay's certificate"}
	case errors.As(err, &unknown):
		return &SetupError{Err: ErrTLS, Detail: "the relay's certificate is signed by an authority this machine does not trust", Hint: hint}
	case errors.As(err, &verify):
		return &SetupError{Err: ErrTLS, Detail: "the relay's certificate cannot be verified: " + verify.Err.Error(), Hint: hint}
	}
	return nil
}
