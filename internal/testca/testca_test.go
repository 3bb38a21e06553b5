package testca

import "testing"

func TestNew(t *testing.T) {
	cert, key, pemBytes := New(t, "test CA")
	if !cert.IsCA || cert.Subject.CommonName != "test CA" || key == nil || len(pemBytes) == 0 {
		t.Fatalf("CA %+v, key %v, %d PEM bytes", cert.Subject, key, len(pemBytes))
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
}
