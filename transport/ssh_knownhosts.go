package transport

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/portwarden/portwarden/internal/filelock"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeyCheck returns the host key callback for cfg and the host key
// algorithms to ask for: those of the keys known_hosts has for the host, so
// that a host with several keys presents one we can check.
func hostKeyCheck(cfg SSHConfig, addr string) (ssh.HostKeyCallback, []string, error) {
	if cfg.InsecureIgnoreHostKey {
		return ssh.InsecureIgnoreHostKey(), nil, nil
	}
	v := &knownHostsVerifier{path: cfg.KnownHostsPath, acceptNew: cfg.AcceptNewHostKeys, port: cfg.Port}
	kh, err := v.load()
	if err != nil {
		return nil, nil, err
	}
	return v.check, knownAlgorithms(kh.cb, addr, kh.cas), nil
}

// knownAlgorithms lists the host key algorithms to ask for: host
// certificates first when an @cert-authority line covers the host, then
// the types of the plain keys known_hosts has for it.
func knownAlgorithms(cb ssh.HostKeyCallback, addr string, cas map[string]bool) []string {
	probe := probeKey()
	if probe == nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if err := cb(addr, &net.TCPAddr{IP: net.IPv4zero}, probe); !errors.As(err, &ke) || len(ke.Want) == 0 {
		return nil
	}
	var algos []string
	add := func(a ...string) {
		for _, s := range a {
			if !sshContains(algos, s) {
				algos = append(algos, s)
			}
		}
	}
	for _, k := range ke.Want {
		if cas[caKey(k.Filename, k.Line)] {
			add(hostCertAlgorithms...)
		}
	}
	for _, k := range ke.Want {
		if cas[caKey(k.Filename, k.Line)] {
			continue
		}
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	return algos
}

// probeKey is a key no known_hosts line has (made at random, once per
// process): offered to the callback, it makes knownhosts list every key it
// knows for a host.
var probeKey = sync.OnceValue(func() ssh.PublicKey {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil
	}
	return probe
})

func sshContains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// knownHostsVerifier checks host keys against one known_hosts file and,
// with acceptNew, records keys of hosts it does not know.
type knownHostsVerifier struct {
	path      string
	acceptNew bool
	port      int
}

// load returns the file's current reading (see knownHostsCache).
func (v *knownHostsVerifier) load() (*knownHostsFile, error) {
	return knownHostsFiles.get(v.path)
}

func (v *knownHostsVerifier) check(hostname string, remote net.Addr, key ssh.PublicKey) error {
	kh, err := v.load()
	if err != nil {
		return err
	}
	err = v.classify(hostname, key, kh.cas, kh.cb(hostname, remote, key))
	var hke *HostKeyError
	if !v.acceptNew || !errors.As(err, &hke) || hke.Kind != HostKeyUnknown {
		return err
	}
	return v.record(hostname, remote, key)
}

// classify turns the callback's err into a *HostKeyError; cas are the
// file's @cert-authority lines (caLines).
func (v *knownHostsVerifier) classify(hostname string, key ssh.PublicKey, cas map[string]bool, err error) error {
	if err == nil {
		return nil
	}
	e := &HostKeyError{
		Host:        knownhosts.Normalize(hostname),
		Port:        v.port,
		KnownHosts:  v.path,
		KeyType:     key.Type(),
		Fingerprint: ssh.FingerprintSHA256(key),
	}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	if errors.As(err, &ke) {
		// @cert-authority lines vouch for certificates only: a plain key
		// they do not match is unknown, not changed.
		plain := ke.Want[:0:0]
		for _, k := range ke.Want {
			if !cas[caKey(k.Filename, k.Line)] {
				plain = append(plain, k)
			}
		}
		ke = &knownhosts.KeyError{Want: plain}
	}
	if c, ok := key.(*ssh.Certificate); ok {
		e.KeyType, e.Fingerprint = c.Type(), ssh.FingerprintSHA256(c.Key)
		if err := hostCertErr(c, err, v.path); err != nil {
			return err
		}
	}
	switch {
	case errors.As(err, new(*knownhosts.KeyError)) && len(ke.Want) == 0:
		e.Kind = HostKeyUnknown
	case errors.As(err, new(*knownhosts.KeyError)):
		e.Kind = HostKeyChanged
		for _, k := range ke.Want {
			e.Known = append(e.Known, fmt.Sprintf("%s:%d %s %s", k.Filename, k.Line, k.Key.Type(), ssh.FingerprintSHA256(k.Key)))
		}
	case errors.As(err, &re):
		e.Kind = HostKeyRevoked
		e.Known = []string{fmt.Sprintf("%s:%d", re.Revoked.Filename, re.Revoked.Line)}
	default:
		return fmt.Errorf("checking the host key of %s: %w", hostname, err)
	}
	return e
}

// knownHostsMu serializes appends within this process; flock serializes
// them with other processes.
var knownHostsMu sync.Mutex

// record appends the key of a new host to known_hosts, unless another
// connection recorded a key for it meanwhile: then that key decides.
func (v *knownHostsVerifier) record(hostname string, remote net.Addr, key ssh.PublicKey) error {
	knownHostsMu.Lock()
	defer knownHostsMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(v.path), 0o700); err != nil {
		return fmt.Errorf("recording the host key of %s: %w", hostname, err)
	}
	f, err := os.OpenFile(v.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("recording the host key of %s: %w", hostname, err)
	}
	defer f.Close()
	if err := filelock.Lock(f); err != nil {
		return fmt.Errorf("recording the host key of %s: locking %s: %w", hostname, v.path, err)
	}
	defer filelock.Unlock(f)

	// Under the lock, the file as it is now, not a cached reading: another
	// process may have recorded this host within the cache's stamp.
	kh, err := readKnownHosts(v.path)
	if err != nil {
		return err
	}
	if err := v.classify(hostname, key, kh.cas, kh.cb(hostname, remote, key)); err != nil {
		var hke *HostKeyError
		if !errors.As(err, &hke) || hke.Kind != HostKeyUnknown {
			return err
		}
	} else {
		return nil
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key) + "\n"
	// Keep the file line-oriented if its last line lacks a newline.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line); err != nil {
		return fmt.Errorf("recording the host key of %s in %s: %w", hostname, v.path, err)
	}
	return nil
}
