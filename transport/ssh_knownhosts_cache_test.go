package transport

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func testHostKey(t testing.TB) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fleetKnownHosts writes a known_hosts file of n hosts (10.0.x.y) dated
// an hour ago, and returns its path and the hosts' keys.
func fleetKnownHosts(t testing.TB, n int) (string, []ssh.PublicKey) {
	t.Helper()
	var b strings.Builder
	keys := make([]ssh.PublicKey, n)
	for i := range n {
		keys[i] = testHostKey(t)
		b.WriteString(knownhosts.Line([]string{fleetAddr(i)}, keys[i]) + "\n")
	}
	path := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	return path, keys
}

func fleetAddr(i int) string { return fmt.Sprintf("10.0.%d.%d", i/250, 10+i%250) }

// checkHost does what a connection does with known_hosts: pick the host
// key algorithms, then check the key the host presents.
func checkHost(t testing.TB, path, host string, key ssh.PublicKey) ([]string, error) {
	cb, algos, err := hostKeyCheck(SSHConfig{KnownHostsPath: path, Port: 22}, net.JoinHostPort(host, "22"))
	if err != nil {
		t.Fatal(err)
	}
	return algos, cb(net.JoinHostPort(host, "22"), &net.TCPAddr{IP: net.ParseIP(host), Port: 22}, key)
}

// TestKnownHostsParsedOnce checks that a fleet's connections share one
// reading of an unchanged known_hosts file, and that they still check
// every host against its own key.
func TestKnownHostsParsedOnce(t *testing.T) {
	path, keys := fleetKnownHosts(t, 20)
	first, err := knownHostsFiles.get(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		algos, err := checkHost(t, path, fleetAddr(i), k)
		if err != nil {
			t.Fatalf("host %d: %v", i, err)
		}
		if len(algos) != 1 || algos[0] != ssh.KeyAlgoED25519 {
			t.Fatalf("host %d: algorithms %v, want [%s]", i, algos, ssh.KeyAlgoED25519)
		}
		if _, err := checkHost(t, path, fleetAddr(i), keys[(i+1)%len(keys)]); !isHostKeyKind(err, HostKeyChanged) {
			t.Fatalf("host %d with another host's key: %v, want a changed key", i, err)
		}
	}
	again, err := knownHostsFiles.get(path)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Fatal("an unchanged known_hosts file was read again")
	}
}

func isHostKeyKind(err error, kind HostKeyErrorKind) bool {
	var hke *HostKeyError
	return errors.As(err, &hke) && hke.Kind == kind
}

// TestKnownHostsCacheSeesChanges checks that every change of the file
// reaches the next connection: a new line (another size), and a key
// replaced by one of the same length at once (the same size, and maybe
// the same modification time: a racy stamp, compared by content).
func TestKnownHostsCacheSeesChanges(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "known_hosts")
	a, b := testHostKey(t), testHostKey(t)
	write := func(lines ...string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const host = "10.1.0.10"
	if _, err := checkHost(t, path, host, a); !isHostKeyKind(err, HostKeyUnknown) {
		t.Fatalf("no file: %v, want an unknown host", err)
	}
	write(knownhosts.Line([]string{"10.1.0.99"}, b))
	if _, err := checkHost(t, path, host, a); !isHostKeyKind(err, HostKeyUnknown) {
		t.Fatalf("host not in the file: %v, want an unknown host", err)
	}
	write(knownhosts.Line([]string{"10.1.0.99"}, b), knownhosts.Line([]string{host}, a))
	if _, err := checkHost(t, path, host, a); err != nil {
		t.Fatalf("host added: %v", err)
	}
	for range 3 {
		write(knownhosts.Line([]string{"10.1.0.99"}, b), knownhosts.Line([]string{host}, b))
		if _, err := checkHost(t, path, host, a); !isHostKeyKind(err, HostKeyChanged) {
			t.Fatalf("key replaced with one of the same size: %v, want a changed key", err)
		}
		write(knownhosts.Line([]string{"10.1.0.99"}, b), knownhosts.Line([]string{host}, a))
		if _, err := checkHost(t, path, host, a); err != nil {
			t.Fatalf("key put back: %v", err)
		}
	}
	write(knownhosts.Line([]string{"10.1.0.99"}, b), "@revoked "+knownhosts.Line([]string{host}, a))
	if _, err := checkHost(t, path, host, a); !isHostKeyKind(err, HostKeyRevoked) {
		t.Fatalf("key revoked: %v, want a revoked key", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := checkHost(t, path, host, a); !isHostKeyKind(err, HostKeyUnknown) {
		t.Fatalf("file removed: %v, want an unknown host", err)
	}
}

// BenchmarkKnownHostsFleet is what a run over a 1,000-host fleet does
// with known_hosts, per host: choose the host key algorithms and check
// the key the host presents.
func BenchmarkKnownHostsFleet(b *testing.B) {
	const n = 1000
	path, keys := fleetKnownHosts(b, n)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := checkHost(b, path, fleetAddr(i%n), keys[i%n]); err != nil {
			b.Fatal(err)
		}
	}
}
