package transport

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
)

func sshAuthFailure(err error) bool {
	s := err.Error()
	return strings.Contains(s, "unable to authenticate") || strings.Contains(s, "too many authentication")
}

// sshAuth builds the auth methods: public keys (the key file with its
// certificate, the agent's keys, then the identity files), then password
// and keyboard-interactive with the password. offered describes each key,
// for the error when the host refuses them all. cleanup closes the agent
// connection once the handshake is over.
func sshAuth(cfg SSHConfig) (auth []ssh.AuthMethod, methods []string, offered func() []string, cleanup func(), err error) {
	keys, cleanup, err := sshKeys(cfg)
	if err != nil {
		return nil, nil, nil, cleanup, err
	}
	offered = keys.describe
	if keys.any() {
		auth = append(auth, ssh.PublicKeysCallback(keys.signers))
		methods = append(methods, "publickey")
	}
	if cfg.Password != "" {
		pw := cfg.Password
		auth = append(auth, ssh.Password(pw), ssh.KeyboardInteractive(passwordChallenge(pw)))
		methods = append(methods, "password", "keyboard-interactive")
	}
	if len(auth) == 0 {
		return nil, nil, nil, cleanup, errors.New("no authentication method: set a private key, the agent or a password")
	}
	return auth, methods, offered, cleanup, nil
}

// passwordChallenge answers keyboard-interactive prompts that do not echo
// (password prompts) with the password. It gives up after a few rounds so
// that a server asking again and again gets no more tries than password
// authentication would.
func passwordChallenge(pw string) ssh.KeyboardInteractiveChallenge {
	rounds := 0
	return func(name, instruction string, questions []string, echos []bool) ([]string, error) {
		answers := make([]string, len(questions))
		if len(questions) == 0 {
			return answers, nil
		}
		rounds++
		if rounds > 3 {
			return nil, errors.New("keyboard-interactive: password refused")
		}
		for i := range questions {
			if !echos[i] {
				answers[i] = pw
			}
		}
		return answers, nil
	}
}

// privateKeys holds the keys parsed so far in this process, by path and a
// digest of the file's bytes and the passphrase: a fleet shares one key,
// and parsing it per host cost the controller 8 % of a no-op plan's CPU
// (an encrypted key's bcrypt KDF, tens of milliseconds, per host). A
// changed file or passphrase is parsed again; failures are not kept.
var privateKeys sync.Map // privateKeyID -> ssh.Signer

type privateKeyID struct {
	path string
	sum  [sha256.Size]byte
}

func loadPrivateKey(path, passphrase string) (ssh.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading private key: %w", err)
	}
	h := sha256.New()
	h.Write(b)
	h.Write([]byte{0})
	h.Write([]byte(passphrase))
	id := privateKeyID{path: path}
	h.Sum(id.sum[:0])
	if s, ok := privateKeys.Load(id); ok {
		return s.(ssh.Signer), nil
	}
	s, err := parsePrivateKey(path, b, passphrase)
	if err != nil {
		return nil, err
	}
	privateKeys.Store(id, s)
	return s, nil
}

func parsePrivateKey(path string, b []byte, passphrase string) (ssh.Signer, error) {
	s, err := ssh.ParsePrivateKey(b)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if passphrase == "" {
			return nil, fmt.Errorf("private key %s is encrypted: give its passphrase", path)
		}
		s, err = ssh.ParsePrivateKeyWithPassphrase(b, []byte(passphrase))
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, fmt.Errorf("decrypting private key %s: wrong passphrase", path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("parsing private key %s: %w", path, err)
	}
	return s, nil
}
