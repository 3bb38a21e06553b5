package transport

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The defaults of SSHConfig and WinRMConfig, in one place. The inventory
// fills them in when it loads a host (SSHDefaults, WinRMDefaults), so that
// plans, validate and enforce mode's management port see the values a
// connection will use; Dial fills whatever a caller left zero with the same
// functions.
const (
	DefaultSSHPort = 22
	DefaultSSHUser = "root"
	// DefaultConnectTimeout bounds reaching a host and the handshake, for
	// SSH and WinRM.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultCommandTimeout bounds an SSH script that has no Timeout of its
	// own (the orchestrator gives every script one that scales with its
	// work, unless the inventory sets command_timeout).
	DefaultCommandTimeout = 60 * time.Second

	DefaultWinRMHTTPSPort = 5986
	DefaultWinRMHTTPPort  = 5985
	DefaultWinRMAuth      = "ntlm"
	// DefaultWinRMCommandTimeout is DefaultCommandTimeout for WinRM:
	// powershell.exe starts slower and the NetSecurity cmdlets take longer
	// per rule than nft or iptables-restore.
	DefaultWinRMCommandTimeout = 120 * time.Second
)

// DefaultIdentityFiles are the key files ssh tries without -i, in its
// order, relative to ~/.ssh.
var DefaultIdentityFiles = []string{"id_ed25519", "id_ecdsa", "id_rsa"}

// DefaultKnownHostsPath is ~/.ssh/known_hosts.
func DefaultKnownHostsPath() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding ~/.ssh/known_hosts: %w", err)
	}
	return filepath.Join(home, ".ssh", "known_hosts"), nil
}

// SSHDefaults returns c with every unset connection setting at its
// default: Port, User, ConnectTimeout and (unless InsecureIgnoreHostKey)
// KnownHostsPath. CommandTimeout stays as it is: zero means "scale with
// the work" to the orchestrator and DefaultCommandTimeout to Run (see
// scriptTimeout). The bastions of ProxyJump are filled too.
func SSHDefaults(c SSHConfig) (SSHConfig, error) {
	if c.Port == 0 {
		c.Port = DefaultSSHPort
	}
	if c.User == "" {
		c.User = DefaultSSHUser
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.KnownHostsPath == "" && !c.InsecureIgnoreHostKey {
		p, err := DefaultKnownHostsPath()
		if err != nil {
			return c, err
		}
		c.KnownHostsPath = p
	}
	if c.ProxyJump != nil {
		j, err := SSHDefaults(*c.ProxyJump)
		if err != nil {
			return c, err
		}
		c.ProxyJump = &j
	}
	return c, nil
}

// WinRMDefaults returns c with every unset connection setting at its
// default: HTTPS unless AllowUnencrypted, the port that goes with it,
// Auth and ConnectTimeout. CommandTimeout stays as it is (see
// SSHDefaults).
func WinRMDefaults(c WinRMConfig) WinRMConfig {
	// Plain HTTP only on explicit request: the zero WinRMConfig (HTTPS
	// false) means HTTPS unless AllowUnencrypted says otherwise.
	if !c.AllowUnencrypted {
		c.HTTPS = true
	}
	if c.Port == 0 {
		c.Port = DefaultWinRMHTTPPort
		if c.HTTPS {
			c.Port = DefaultWinRMHTTPSPort
		}
	}
	if c.Auth == "" {
		c.Auth = DefaultWinRMAuth
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	return c
}

// scriptTimeout is how long a script may run: its own Timeout, else the
// connection's CommandTimeout, else def.
func scriptTimeout(s Script, configured, def time.Duration) time.Duration {
	switch {
	case s.Timeout > 0:
		return s.Timeout
	case configured > 0:
		return configured
	}
	return def
}
