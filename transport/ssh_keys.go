package transport

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// sshKeySet is the public keys a connection offers, in OpenSSH's order:
// the configured key (as its certificate when there is one), the agent's,
// then the identity files.
type sshKeySet struct {
	fixed   []describedSigner
	primary bool                // fixed[0] is the configured key
	agent   agent.ExtendedAgent // nil without an agent

	mu      sync.Mutex
	offered []string
}

type describedSigner struct {
	ssh.Signer
	desc string
}

func (k *sshKeySet) any() bool { return len(k.fixed) > 0 || k.agent != nil }

// signers is the ssh.PublicKeysCallback: it lists the agent's keys when
// the handshake asks, and remembers what it offered.
func (k *sshKeySet) signers() ([]ssh.Signer, error) {
	all := append([]describedSigner(nil), k.fixed[:k.fileStart()]...)
	if k.agent != nil {
		ss, err := k.agent.Signers()
		if err != nil {
			return nil, fmt.Errorf("listing the agent's keys: %w", err)
		}
		keys, _ := k.agent.List()
		for i, s := range ss {
			comment := ""
			if i < len(keys) {
				comment = keys[i].Comment + " "
			}
			all = append(all, describedSigner{s, "agent key " + comment + keyID(s.PublicKey())})
		}
	}
	all = append(all, k.fixed[k.fileStart():]...)
	out := make([]ssh.Signer, len(all))
	k.mu.Lock()
	k.offered = k.offered[:0]
	for i, s := range all {
		out[i] = s.Signer
		k.offered = append(k.offered, s.desc)
	}
	k.mu.Unlock()
	return out, nil
}

// fileStart is where the identity files start in fixed: after the
// configured key, if any.
func (k *sshKeySet) fileStart() int {
	if k.primary {
		return 1
	}
	return 0
}

func (k *sshKeySet) describe() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.offered) == 0 { // the host refused before asking for keys
		var out []string
		for _, s := range k.fixed {
			out = append(out, s.desc)
		}
		return out
	}
	return append([]string(nil), k.offered...)
}

func keyID(pub ssh.PublicKey) string {
	if c, ok := pub.(*ssh.Certificate); ok {
		return fmt.Sprintf("%s certificate %q of %s", c.Type(), c.KeyId, ssh.FingerprintSHA256(c.Key))
	}
	return pub.Type() + " " + ssh.FingerprintSHA256(pub)
}

// sshKeys loads the keys cfg names. The configured key must load; the
// identity files are skipped when missing or encrypted, as ssh does
// without a terminal to ask on.
func sshKeys(cfg SSHConfig) (*sshKeySet, func(), error) {
	k := &sshKeySet{}
	cleanup := func() {}
	if cfg.PrivateKeyPath != "" {
		s, err := loadPrivateKey(cfg.PrivateKeyPath, cfg.Passphrase)
		if err != nil {
			return nil, cleanup, err
		}
		desc := "key file " + cfg.PrivateKeyPath
		if cfg.CertificatePath != "" {
			if s, err = certSigner(cfg.CertificatePath, s); err != nil {
				return nil, cleanup, err
			}
			desc += " with certificate " + cfg.CertificatePath
		}
		k.fixed = append(k.fixed, describedSigner{s, desc + " " + keyID(s.PublicKey())})
		k.primary = true
	} else if cfg.CertificatePath != "" {
		return nil, cleanup, fmt.Errorf("certificate %s needs its private_key", cfg.CertificatePath)
	}
	sock := os.Getenv("SSH_AUTH_SOCK")
	if cfg.Agent && sock == "" {
		return nil, cleanup, errors.New("agent authentication asked for, but SSH_AUTH_SOCK is not set")
	}
	if cfg.Agent || (cfg.AgentIfAvailable && sock != "") {
		ac, err := net.Dial("unix", sock)
		switch {
		case err != nil && cfg.Agent:
			return nil, cleanup, fmt.Errorf("connecting to the ssh agent: %w", err)
		case err == nil:
			cleanup = func() { ac.Close() }
			k.agent = agent.NewClient(ac)
		}
	}
	for _, path := range cfg.IdentityFiles {
		if path == cfg.PrivateKeyPath {
			continue
		}
		s, err := loadPrivateKey(path, "")
		if err != nil {
			continue // missing, encrypted or not a key: ssh skips it too
		}
		if cs, err := certSigner(path+"-cert.pub", s); err == nil {
			s = cs // ssh offers id_X-cert.pub next to id_X
		}
		k.fixed = append(k.fixed, describedSigner{s, "key file " + path + " " + keyID(s.PublicKey())})
	}
	return k, cleanup, nil
}

// certSigner signs with key, presenting the certificate at path.
func certSigner(path string, key ssh.Signer) (ssh.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading certificate: %w", err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate %s: %w", path, err)
	}
	cert, ok := pub.(*ssh.Certificate)
	if !ok || cert.CertType != ssh.UserCert {
		return nil, fmt.Errorf("certificate %s is not an OpenSSH user certificate", path)
	}
	s, err := ssh.NewCertSigner(cert, key)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", path, err)
	}
	return s, nil
}
