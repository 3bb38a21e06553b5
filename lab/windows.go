package lab

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// WindowsUser is the account the simulated Windows hosts accept.
const WindowsUser = "Administrator"

// winSetup is what the Windows hosts share: the lab CA and the binary that
// serves them.
type winSetup struct {
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	labBin string
}

// labBinary finds the portwarden-lab executable that serves Windows hosts.
func labBinary(o Options) (string, error) {
	bin := o.LabBinary
	if bin == "" {
		bin = os.Getenv("PORTWARDEN_LAB_BIN")
	}
	if bin == "" {
		if exe, err := os.Executable(); err == nil && filepath.Base(exe) == "portwarden-lab" {
			bin = exe
		}
	}
	if bin == "" {
		return "", errors.New("windows hosts are served by \"portwarden-lab serve-windows\": build cmd/portwarden-lab and set Options.LabBinary or $PORTWARDEN_LAB_BIN")
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("lab binary: %w", err)
	}
	return abs, nil
}

// writeWindowsFiles makes the lab CA (DIR/ca.pem), a server certificate per
// Windows host and the WinRM password (DIR/winrm-password, 0600). The CA key
// stays in memory: nothing else is ever signed.
func (l *Lab) writeWindowsFiles() (*winSetup, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("making the lab CA: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: fmt.Sprintf("portwarden lab %d CA", l.ID)},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("making the lab CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("making the lab CA: %w", err)
	}
	if err := os.WriteFile(l.CACertPath(), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, fmt.Errorf("writing the lab CA: %w", err)
	}
	w := &winSetup{caCert: caCert, caKey: caKey}
	for _, h := range l.Hosts {
		if h.OS == Windows {
			if err := w.writeServerCert(h); err != nil {
				return nil, err
			}
		}
	}
	pw, err := randomSecret()
	if err != nil {
		return nil, fmt.Errorf("making the WinRM password: %w", err)
	}
	// A trailing newline would become part of the password when read by
	// HCL's file(): write none.
	if err := os.WriteFile(l.WinRMPasswordPath(), []byte(pw), 0o600); err != nil {
		return nil, fmt.Errorf("writing the WinRM password: %w", err)
	}
	return w, nil
}

// randomSecret is a fresh password of 144 random bits.
func randomSecret() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "Pw-" + base64.RawURLEncoding.EncodeToString(b), nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n.Add(n, big.NewInt(1))
}

func (w *winSetup) writeServerCert(h Host) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("making the certificate of %s: %w", h.Name, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: h.Name},
		DNSNames:     []string{h.Name},
		IPAddresses:  []net.IP{h.Address.AsSlice()},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, w.caCert, &key.PublicKey, w.caKey)
	if err != nil {
		return fmt.Errorf("making the certificate of %s: %w", h.Name, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("making the certificate of %s: %w", h.Name, err)
	}
	if err := os.WriteFile(certPath(h), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("writing the certificate of %s: %w", h.Name, err)
	}
	if err := os.WriteFile(keyPath(h), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return fmt.Errorf("writing the certificate key of %s: %w", h.Name, err)
	}
	return nil
}

func certPath(h Host) string { return filepath.Join(h.Dir, "cert.pem") }
func keyPath(h Host) string  { return filepath.Join(h.Dir, "key.pem") }

// startWindows runs "portwarden-lab serve-windows" for h in its namespace.
func (l *Lab) startWindows(h Host, w *winSetup) (int, error) {
	argv := []string{w.labBin, "serve-windows",
		"--host-dir", h.Dir,
		"--listen", fmt.Sprintf("%s:%d", h.Address, h.Port),
		"--cert", certPath(h),
		"--key", keyPath(h),
		"--user", WindowsUser,
		"--password-file", l.WinRMPasswordPath(),
		"--namespace", h.Namespace,
	}
	return l.startProcess(h, filepath.Join(h.Dir, "serve.log"), append(argv, l.kerberosArgs(h)...)...)
}
