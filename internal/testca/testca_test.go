package testca

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"testing"
)

func TestNew(t *testing.T) {
	cert, key, pemBytes := New(t, "test CA")
	if !cert.IsCA || cert.Subject.CommonName != "test CA" || key == nil || len(pemBytes) == 0 {
		t.Fatalf("CA %+v, key %v, %d PEM bytes", cert.Subject, key, len(pemBytes))
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
}

func TestServer(t *testing.T) {
	ca, caKey, _ := New(t, "test CA")
	certPEM, keyPEM := Server(t, ca, caKey, "winhost", []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"winhost"})
	b, _ := pem.Decode(certPEM)
	if b == nil {
		t.Fatal("no certificate PEM")
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		t.Errorf("not signed by the CA: %v", err)
	}
	if err := cert.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}
	if k, _ := pem.Decode(keyPEM); k == nil || k.Type != "PRIVATE KEY" {
		t.Errorf("key PEM %q", keyPEM)
	}
}
