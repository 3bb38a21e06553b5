package transport

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"strings"
)

// parseCertPin reads a SHA-256 certificate fingerprint in hex, with or
// without colons ("openssl x509 -fingerprint -sha256" prints it so).
func parseCertPin(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("cert_sha256 %q is not a SHA-256 fingerprint (64 hex digits, colons allowed)", s)
	}
	return b, nil
}

// CertPinError is a host whose certificate is not the pinned one.
type CertPinError struct {
	Got, Want string // hex
}

func (e *CertPinError) Error() string {
	return fmt.Sprintf("the host's TLS certificate has SHA-256 %s, but cert_sha256 pins %s: another certificate, or another host", e.Got, e.Want)
}

// pinCertificate makes tc accept exactly the certificate whose DER has
// SHA-256 pin, and no other: the pin stands for the CA and the name.
func pinCertificate(tc *tls.Config, pin []byte) {
	tc.InsecureSkipVerify = true // replaced by the pin check below
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return &CertPinError{Got: "none", Want: hex.EncodeToString(pin)}
		}
		sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
		if !bytes.Equal(sum[:], pin) {
			return &CertPinError{Got: hex.EncodeToString(sum[:]), Want: hex.EncodeToString(pin)}
		}
		return nil
	}
}
