package transport

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// HostKeyErrorKind says why a host key was refused.
type HostKeyErrorKind int

const (
	// HostKeyUnknown: known_hosts has no key for the host.
	HostKeyUnknown HostKeyErrorKind = iota + 1
	// HostKeyChanged: known_hosts has other keys for the host. It may be a
	// man-in-the-middle attack or a reinstalled host; it is always refused.
	HostKeyChanged
	// HostKeyRevoked: the key is marked @revoked in known_hosts.
	HostKeyRevoked
)

func (k HostKeyErrorKind) String() string {
	switch k {
	case HostKeyUnknown:
		return "unknown"
	case HostKeyChanged:
		return "changed"
	case HostKeyRevoked:
		return "revoked"
	}
	return "HostKeyErrorKind(" + strconv.Itoa(int(k)) + ")"
}

// HostKeyError is a host key that known_hosts does not vouch for.
type HostKeyError struct {
	Kind HostKeyErrorKind
	// Host is the host as known_hosts names it: "198.18.1.10", or
	// "[host]:2222" for another port.
	Host       string
	Port       int
	KnownHosts string
	// KeyType and Fingerprint (SHA256:...) describe the key the host
	// presented.
	KeyType     string
	Fingerprint string
	// Known lists the keys known_hosts has for the host, as
	// "FILE:LINE TYPE FINGERPRINT" (changed and revoked keys).
	Known []string
}

func (e *HostKeyError) Error() string {
	switch e.Kind {
	case HostKeyUnknown:
		return fmt.Sprintf("host key of %s is not known: it presented %s %s, and %s has no key for it; "+
			"check the fingerprint, then trust it with \"ssh-keyscan -p %d -t %s %s >> %s\", or run with --accept-new-host-keys",
			e.Host, e.KeyType, e.Fingerprint, e.KnownHosts, e.Port, strings.TrimPrefix(e.KeyType, "ssh-"), sshHostOnly(e.Host), e.KnownHosts)
	case HostKeyChanged:
		return fmt.Sprintf("WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED for %s: it presented %s %s, but %s has %s. "+
			"Someone could be intercepting the connection (man-in-the-middle attack), or the host was reinstalled. "+
			"portwarden refuses to connect; if the change is expected, remove the old key with \"ssh-keygen -R %s -f %s\" and trust the new one",
			e.Host, e.KeyType, e.Fingerprint, e.KnownHosts, strings.Join(e.Known, ", "), e.Host, e.KnownHosts)
	case HostKeyRevoked:
		return fmt.Sprintf("host key of %s is revoked: it presented %s %s, marked @revoked in %s",
			e.Host, e.KeyType, e.Fingerprint, strings.Join(e.Known, ", "))
	}
	return fmt.Sprintf("host key of %s refused (%s)", e.Host, e.Kind)
}

func sshHostOnly(knownHost string) string {
	if h, _, err := net.SplitHostPort(knownHost); err == nil {
		return h
	}
	return knownHost
}

// AuthError is a login that the host refused with every method offered.
type AuthError struct {
	User, Host string
	// Methods are the methods portwarden offered ("publickey", "password",
	// "keyboard-interactive").
	Methods []string
	// Offered are the public keys offered, as ssh -v names them: "key
	// file PATH TYPE SHA256:...", "agent key COMMENT TYPE SHA256:...".
	Offered []string
	Err     error
}

func (e *AuthError) Error() string {
	keys := ""
	if len(e.Offered) > 0 {
		keys = "; keys offered: " + strings.Join(e.Offered, ", ")
	}
	return fmt.Sprintf("authenticating as %s to %s (offered %s%s): %v", e.User, e.Host, strings.Join(e.Methods, ", "), keys, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// SudoError is a script that sudo refused to run: a wrong password, a user
// not in sudoers, or sudo missing. Msg is what sudo printed.
type SudoError struct {
	User, Host string
	ExitCode   int
	Msg        string
}

func (e *SudoError) Error() string {
	msg := e.Msg
	if msg == "" {
		msg = "no message"
	}
	return fmt.Sprintf("sudo as %s on %s refused the script (exit status %d): %s", e.User, e.Host, e.ExitCode, msg)
}

// ErrCommandTimeout is wrapped by Run's error when CommandTimeout passes.
var ErrCommandTimeout = errors.New("command timed out")
