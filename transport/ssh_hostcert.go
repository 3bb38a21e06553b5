package transport

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
)

// hostCertAlgorithms are the host certificate algorithms, asked for
// first when an @cert-authority line covers the host, as OpenSSH does.
var hostCertAlgorithms = []string{
	ssh.CertAlgoED25519v01, ssh.CertAlgoECDSA256v01, ssh.CertAlgoECDSA384v01, ssh.CertAlgoECDSA521v01,
	ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01,
}

func caKey(file string, line int) string { return file + ":" + strconv.Itoa(line) }

// caLines returns the @cert-authority lines of a known_hosts file, as
// "FILE:LINE": knownhosts reports them among the keys it wants for a host
// without saying which are authorities.
func caLines(path string) map[string]bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	out := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if strings.HasPrefix(strings.TrimSpace(sc.Text()), "@cert-authority") {
			out[caKey(path, n)] = true
		}
	}
	return out
}

// hostCertErr explains a host certificate that was refused, or returns
// nil when err is not about the certificate.
func hostCertErr(c *ssh.Certificate, err error, knownHosts string) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "no authorities for hostname"):
		return fmt.Errorf("host certificate %q (key %s) is signed by CA %s %s, which no @cert-authority line of %s trusts for this host",
			c.KeyId, ssh.FingerprintSHA256(c.Key), c.SignatureKey.Type(), ssh.FingerprintSHA256(c.SignatureKey), knownHosts)
	case strings.Contains(msg, "revoked"):
		return fmt.Errorf("host certificate %q (key %s, CA %s) is revoked by an @revoked line of %s",
			c.KeyId, ssh.FingerprintSHA256(c.Key), ssh.FingerprintSHA256(c.SignatureKey), knownHosts)
	case strings.HasPrefix(msg, "ssh: "):
		return fmt.Errorf("host certificate %q refused: %s", c.KeyId, strings.TrimPrefix(msg, "ssh: "))
	}
	return nil
}
