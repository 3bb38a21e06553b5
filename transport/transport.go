// Package transport connects portwarden to hosts: SSH for Linux, WinRM
// for Windows (winrm*.go). A connection is opened once per host and reused
// for every script of a run.
//
// The SSH side is one concern per file: ssh.go dials (defaults, the
// handshake, the connection), ssh_auth.go and ssh_keys.go authenticate,
// ssh_knownhosts.go and ssh_hostcert.go verify host keys (known_hosts,
// @cert-authority, @revoked), ssh_script.go wraps a script into a remote
// command (sudo, the pid marker, the host-side timeout, killing it),
// ssh_session.go runs one command in one session, ssh_bastion.go shares
// ProxyJump connections, ssh_errors.go holds the errors callers match on,
// retry.go decides which failed dials to try again, handshakes.go paces
// handshakes (MaxStartups), keepalive.go checks idle connections, and
// defaults.go holds every connection default.
package transport

import (
	"context"
	"net/netip"
	"time"
)

// Conn is one open connection to a host.
type Conn interface {
	// Run sends one script in one round trip and waits for it. A non-zero
	// exit status is not an error: it is reported in Result.ExitCode. err
	// is for failures to deliver the script or read its result, including
	// ctx ending and the command timeout.
	Run(ctx context.Context, s Script) (Result, error)
	// LocalAddr is the controller's end of the connection, when it is
	// known (invalid through a bastion). Enforce mode does not use it: the
	// host's own view (facts) is what it keeps open.
	LocalAddr() netip.Addr
	Close() error
}

// Script is one program sent to a host in one round trip. Shell is "sh"
// (POSIX shell, run as root) or "powershell". Body must not contain
// secrets; Stdin carries data such as a ruleset or a sudo password. The
// orchestrator builds one from a firewall.Script and the timeout the work
// needs, so transport knows nothing of firewalls.
type Script struct {
	Shell string
	Body  string
	Stdin []byte
	// Timeout, when set, bounds this script instead of the connection's
	// CommandTimeout (the orchestrator scales it with the script's work).
	Timeout time.Duration
	// ReadOnly scripts change nothing on the host, and every program they
	// start ends by itself (nft, dbus-send with its reply timeout, the
	// D-Bus clients' own timeouts). Over SSH such a script runs without
	// GNU timeout around it, which saves every host a fork and an exec
	// per facts round: should the controller vanish, a read-only script
	// left running holds no lock and changes nothing, and its output pipe
	// closing ends it. Canceling or timing it out from the controller
	// still kills it (Run's kill session). Without Stdin and without
	// sudo, the body travels on standard input to "sh -s" instead of on
	// the command line (sshWrapStdin): such a body must be one compound
	// command, which the shell reads whole before it runs any of it, or
	// give the programs it starts another standard input. On a connection
	// asked to KeepShell (watch's pool), such a script runs in the
	// connection's resident shell instead of a session of its own
	// (ssh_resident.go).
	ReadOnly bool
	// Bounded scripts change the host, but every program they start ends
	// by itself within seconds and they take no lock (a confirm): over SSH
	// they too run without GNU timeout around them (a fork and an exec
	// less), on the command line like any script that is not ReadOnly.
	Bounded bool
}

// Result is what a script printed and how it exited.
type Result struct {
	Stdout, Stderr []byte
	ExitCode       int
}

// SSHConfig says how to reach a Linux host. Secrets (Password, Passphrase,
// SudoPassword) must never be logged or put into an error.
type SSHConfig struct {
	Address        string // host name or IP, without port
	Port           int    // default DefaultSSHPort (defaults.go)
	User           string // default DefaultSSHUser
	PrivateKeyPath string
	// CertificatePath is an OpenSSH user certificate for the private key
	// ("id_ed25519-cert.pub"), offered instead of the bare key.
	CertificatePath string
	Passphrase      string // for an encrypted private key
	// IdentityFiles are keys tried after PrivateKeyPath and the agent, as
	// ssh tries ~/.ssh/id_* and ssh_config's IdentityFile: a missing or
	// encrypted one is skipped, not an error.
	IdentityFiles []string
	// AgentIfAvailable uses the agent when SSH_AUTH_SOCK is set (Agent
	// requires it).
	AgentIfAvailable bool
	Password         string // password and keyboard-interactive auth
	Agent            bool   // use $SSH_AUTH_SOCK
	KnownHostsPath   string // default DefaultKnownHostsPath()
	// AcceptNewHostKeys records the key of a host not yet in known_hosts
	// (OpenSSH's accept-new). A changed key is always refused.
	AcceptNewHostKeys bool
	// InsecureIgnoreHostKey skips verification; only with an explicit
	// opt-in in the inventory.
	InsecureIgnoreHostKey bool
	// Sudo runs scripts through "sudo -S" for a non-root User; the
	// password, if any, goes through stdin, never argv.
	Sudo         bool
	SudoPassword string
	// ProxyJump is a bastion to connect through, or nil.
	ProxyJump *SSHConfig
	// Bastions, when set, shares one connection to each bastion among all
	// the hosts of a run that jump through it; nil means one bastion
	// connection per host.
	Bastions *BastionPool
	// Handshakes, when set, bounds the handshakes in flight (in all and
	// per sshd, ramping up; see Handshakes) for every host of a run and
	// its bastions; nil means no bound.
	Handshakes     *Handshakes
	ConnectTimeout time.Duration // default DefaultConnectTimeout
	// CommandTimeout bounds each script without a Timeout of its own;
	// zero is DefaultCommandTimeout.
	CommandTimeout time.Duration
}

// WinRMConfig says how to reach a Windows host.
type WinRMConfig struct {
	Address  string
	Port     int    // default 5986 with HTTPS, 5985 without
	User     string // "DOMAIN\\user" or "user"
	Password string
	HTTPS    bool // default true
	// AllowUnencrypted must be set to use plain HTTP: the served winrm
	// library cannot seal NTLM messages, so the host must accept
	// unencrypted traffic.
	AllowUnencrypted bool
	CACertPath       string // PEM bundle to verify the server certificate
	Insecure         bool   // skip certificate verification; explicit opt-in
	// TLSServerName is the name the certificate must carry when it is not
	// Address (a host addressed by IP whose certificate names its DNS name).
	TLSServerName string
	// CertSHA256 pins the host's certificate: the SHA-256 of its DER, in
	// hex (colons allowed). A pinned certificate needs no CA and no name.
	CertSHA256 string
	Auth       string // "ntlm" (default), "basic" or "kerberos"
	// Kerberos (Auth "kerberos", see winrm_kerberos.go): Realm is the
	// user's realm (Active Directory: the domain's DNS name in capitals),
	// default the realm in User ("user@REALM"); SPN is the host's service
	// principal, default "HTTP/<TLSServerName, else Address>";
	// Krb5ConfigPath is the krb5.conf that names the realm's KDCs,
	// default $KRB5_CONFIG, else the OS's file, else DNS SRV records.
	Realm, SPN, Krb5ConfigPath string
	// Krb5CCachePath, with Auth "kerberos" and no Password, is a
	// credential cache (a file, as kinit writes it) whose ticket-granting
	// ticket for User is used instead of a password.
	Krb5CCachePath string
	// AllowBasicOverHTTPCleartextPassword must be set for Basic
	// authentication over plain HTTP, which sends the password in clear
	// text with every request.
	AllowBasicOverHTTPCleartextPassword bool
	ConnectTimeout                      time.Duration
	CommandTimeout                      time.Duration
}
