package transport

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/portwarden/portwarden/lab/wsman"
)

// TestWinRMServerNameAndPin: a host addressed by IP whose certificate
// names only its DNS name is reached with tls_server_name, or with a pin
// of its certificate (no CA needed); a wrong name or pin is refused.
// Against the simulated host's real HTTPS listener (lab/wsman).
func TestWinRMServerNameAndPin(t *testing.T) {
	pki := newWinPKIFor(t, nil, []string{"win01.corp.example"})
	h := startWinHost(t, wsman.Config{}, pki)

	cfg := h.config() // by IP, verified against the CA
	if _, err := DialWinRM(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("certificate without the IP: err = %v, want a name mismatch", err)
	}
	cfg.TLSServerName = "win01.corp.example"
	if res := runPS(t, dial(t, cfg), "'by name'"); strings.TrimSpace(string(res.Stdout)) != "by name" {
		t.Errorf("stdout %q", res.Stdout)
	}
	cfg.TLSServerName = "win02.corp.example"
	if _, err := DialWinRM(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "win02.corp.example") {
		t.Errorf("wrong tls_server_name: err = %v", err)
	}

	b, _ := os.ReadFile(pki.cert)
	block, _ := pem.Decode(b)
	sum := sha256.Sum256(block.Bytes)
	pin := strings.ToUpper(hex.EncodeToString(sum[:]))
	var colons []string
	for i := 0; i < len(pin); i += 2 {
		colons = append(colons, pin[i:i+2])
	}
	for _, p := range []string{pin, strings.Join(colons, ":"), strings.ToLower(pin)} {
		cfg = h.config()
		cfg.CACertPath, cfg.CertSHA256 = "", p // no CA: the pin vouches
		if res := runPS(t, dial(t, cfg), "'pinned'"); strings.TrimSpace(string(res.Stdout)) != "pinned" {
			t.Errorf("stdout %q", res.Stdout)
		}
	}
	other := sha256.Sum256([]byte("another certificate"))
	cfg.CertSHA256 = hex.EncodeToString(other[:])
	_, err := DialWinRM(context.Background(), cfg)
	var pe *CertPinError
	if !errors.As(err, &pe) || pe.Got != strings.ToLower(pin) {
		t.Errorf("wrong pin: err = %v, want a CertPinError naming the presented certificate", err)
	}
	cfg.CertSHA256 = "abc"
	if _, err := DialWinRM(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
		t.Errorf("malformed pin: err = %v", err)
	}
}
