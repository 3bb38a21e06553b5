package transport

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/portwarden/portwarden/lab"
)

// certSSHD is a second, test-local sshd in a lab host's namespace that
// presents a host certificate and trusts a user CA: real OpenSSH
// (HostCertificate, TrustedUserCAKeys), configured by the test alone.
type certSSHD struct {
	addr     string // host:port
	hostKey  ssh.PublicKey
	hostCA   ssh.Signer
	userCA   ssh.Signer
	dir      string
	hostCert *ssh.Certificate
}

func newSigner(t *testing.T) (ssh.Signer, ed25519.PrivateKey) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, priv
}

func writeKey(t *testing.T, path string, priv ed25519.PrivateKey) {
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
}

func signCert(t *testing.T, ca ssh.Signer, key ssh.PublicKey, typ uint32, id string, principals ...string) *ssh.Certificate {
	c := &ssh.Certificate{Key: key, Serial: 7, CertType: typ, KeyId: id, ValidPrincipals: principals,
		ValidAfter: uint64(time.Now().Add(-time.Hour).Unix()), ValidBefore: uint64(time.Now().Add(time.Hour).Unix())}
	if typ == ssh.UserCert {
		c.Permissions.Extensions = map[string]string{"permit-pty": ""}
	}
	if err := c.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	return c
}

func startCertSSHD(t *testing.T, l *lab.Lab, host string) *certSSHD {
	t.Helper()
	h, _ := l.Host(host)
	d := &certSSHD{dir: t.TempDir()}
	const port = 2222
	d.addr = h.Address.String() + ":" + strconv.Itoa(port)
	hostSigner, hostPriv := newSigner(t)
	d.hostKey = hostSigner.PublicKey()
	d.hostCA, _ = newSigner(t)
	d.userCA, _ = newSigner(t)
	keyPath := filepath.Join(d.dir, "host_key")
	writeKey(t, keyPath, hostPriv)
	d.hostCert = signCert(t, d.hostCA, d.hostKey, ssh.HostCert, "lab-host", h.Address.String())
	os.WriteFile(keyPath+"-cert.pub", ssh.MarshalAuthorizedKey(d.hostCert), 0o644)
	os.WriteFile(filepath.Join(d.dir, "user_ca.pub"), ssh.MarshalAuthorizedKey(d.userCA.PublicKey()), 0o644)
	os.WriteFile(filepath.Join(d.dir, "authorized_keys"), nil, 0o644) // certificates only
	cfg := fmt.Sprintf(`Port %d
ListenAddress %s
HostKey %s
HostCertificate %s-cert.pub
TrustedUserCAKeys %s/user_ca.pub
AuthorizedKeysFile %s/authorized_keys
PidFile %s/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
LogLevel VERBOSE
`, port, h.Address, keyPath, keyPath, d.dir, d.dir, d.dir)
	cfgPath := filepath.Join(d.dir, "sshd_config")
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	if out, err := l.Exec(context.Background(), host, nil, "/usr/sbin/sshd", "-f", cfgPath, "-E", filepath.Join(d.dir, "sshd.log")); err != nil {
		t.Fatalf("starting sshd: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		b, _ := os.ReadFile(filepath.Join(d.dir, "sshd.pid"))
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGTERM)
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(d.dir, "sshd.log"))
			t.Logf("sshd.log:\n%s", log)
		}
	})
	for i := 0; i < 50; i++ { // sshd writes its pid file once it listens
		if _, err := os.Stat(filepath.Join(d.dir, "sshd.pid")); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return d
}

// TestSSHHostCertificate: a host certificate signed by a CA of an
// @cert-authority line is accepted; the same CA marked @revoked, a CA that
// is not trusted, and a plain key not in known_hosts are refused, never as
// "REMOTE HOST IDENTIFICATION HAS CHANGED".
func TestSSHHostCertificate(t *testing.T) {
	t.Parallel()
	l := lab.UpForTest(t, lab.Options{Linux: 1})
	d := startCertSSHD(t, l, "lnx01")
	h, _ := l.Host("lnx01")
	userKey, userPriv := newSigner(t)
	keyPath := filepath.Join(d.dir, "id_user")
	writeKey(t, keyPath, userPriv)
	userCert := signCert(t, d.userCA, userKey.PublicKey(), ssh.UserCert, "portwarden", "root")
	certPath := keyPath + "-cert.pub"
	os.WriteFile(certPath, ssh.MarshalAuthorizedKey(userCert), 0o644)

	ca := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(d.hostCA.PublicKey())))
	other, _ := newSigner(t)
	otherCA := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(other.PublicKey())))
	pattern := "[" + h.Address.String() + "]:2222"
	for _, tc := range []struct {
		name, knownHosts, wantErr string
	}{
		{"trusted CA", "@cert-authority " + pattern + " " + ca + "\n", ""},
		{"trusted CA by wildcard", "@cert-authority [198.18.*]:2222 " + ca + "\n", ""},
		{"revoked CA", "@cert-authority " + pattern + " " + ca + "\n@revoked * " + ca + "\n", "revoked"},
		{"revoked host key", "@cert-authority " + pattern + " " + ca + "\n@revoked * " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(d.hostKey))) + "\n", "revoked"},
		{"untrusted CA", "@cert-authority " + pattern + " " + otherCA + "\n", "no @cert-authority line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kh := filepath.Join(t.TempDir(), "known_hosts")
			os.WriteFile(kh, []byte(tc.knownHosts), 0o600)
			cfg := SSHConfig{Address: h.Address.String(), Port: 2222, PrivateKeyPath: keyPath, CertificatePath: certPath,
				KnownHostsPath: kh, ConnectTimeout: 5 * time.Second, CommandTimeout: 10 * time.Second}
			c, err := DialSSH(context.Background(), cfg)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("DialSSH: %v", err)
				}
				defer c.Close()
				if res := runSSHTest(t, c, "id -un", nil); strings.TrimSpace(string(res.Stdout)) != "root" {
					t.Errorf("id -un = %q", res.Stdout)
				}
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("connected; want a refusal")
			}
			if !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "HAS CHANGED") {
				t.Errorf("error %q, want %q and no HAS CHANGED", err, tc.wantErr)
			}
		})
	}
}

// TestSSHUserCertificate: the host trusts the user CA, not the key: the
// key alone is refused with its fingerprint named, the key with its
// certificate logs in.
func TestSSHUserCertificate(t *testing.T) {
	t.Parallel()
	l := lab.UpForTest(t, lab.Options{Linux: 1})
	d := startCertSSHD(t, l, "lnx01")
	h, _ := l.Host("lnx01")
	kh := filepath.Join(d.dir, "known_hosts")
	os.WriteFile(kh, []byte("@cert-authority [*]:2222 "+string(ssh.MarshalAuthorizedKey(d.hostCA.PublicKey()))), 0o600)
	userKey, userPriv := newSigner(t)
	keyPath := filepath.Join(d.dir, "id_ed25519")
	writeKey(t, keyPath, userPriv)
	cfg := SSHConfig{Address: h.Address.String(), Port: 2222, PrivateKeyPath: keyPath, KnownHostsPath: kh,
		ConnectTimeout: 5 * time.Second, CommandTimeout: 10 * time.Second}

	_, err := DialSSH(context.Background(), cfg)
	var ae *AuthError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), ssh.FingerprintSHA256(userKey.PublicKey())) || !strings.Contains(err.Error(), keyPath) {
		t.Fatalf("bare key: got %v, want an AuthError naming %s and its fingerprint", err, keyPath)
	}

	wrong := signCert(t, d.userCA, userKey.PublicKey(), ssh.UserCert, "not-root", "someone-else")
	os.WriteFile(keyPath+"-cert.pub", ssh.MarshalAuthorizedKey(wrong), 0o644)
	cfg.CertificatePath = keyPath + "-cert.pub"
	if _, err := DialSSH(context.Background(), cfg); !errors.As(err, &ae) || !strings.Contains(err.Error(), `certificate "not-root"`) {
		t.Errorf("certificate for another principal: got %v", err)
	}

	good := signCert(t, d.userCA, userKey.PublicKey(), ssh.UserCert, "portwarden", "root")
	os.WriteFile(keyPath+"-cert.pub", ssh.MarshalAuthorizedKey(good), 0o644)
	runSSHTest(t, dialSSHTest(t, cfg), "true", nil)

	// As an identity file, id_X-cert.pub next to id_X is offered too.
	cfg.PrivateKeyPath, cfg.CertificatePath, cfg.IdentityFiles = "", "", []string{filepath.Join(d.dir, "id_missing"), keyPath}
	runSSHTest(t, dialSSHTest(t, cfg), "true", nil)
}
