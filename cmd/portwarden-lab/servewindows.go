// This file is servewindows.go, not serve_windows.go: the "_windows" suffix
// would make it build only for GOOS=windows.

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/portwarden/portwarden/lab/winfw"
	"github.com/portwarden/portwarden/lab/wsman"
)

// serveWindows runs one simulated Windows host: the WinRM service of
// lab/wsman over HTTPS, whose PowerShell is the firewall model of
// lab/winfw, enforced with nftables in the host's namespace. lab.Up starts
// it inside that namespace; it is not meant to be run by hand. It serves
// until SIGTERM or SIGINT.
func serveWindows(ctx context.Context, args []string, stderr io.Writer) error {
	fl := flag.NewFlagSet("serve-windows", flag.ContinueOnError)
	fl.SetOutput(stderr)
	hostDir := fl.String("host-dir", "", "the host's directory: the firewall state (winfw.json) lives there")
	listen := fl.String("listen", "", "address:port of the WinRM HTTPS listener")
	cert := fl.String("cert", "", "server certificate (PEM)")
	key := fl.String("key", "", "server key (PEM)")
	user := fl.String("user", "Administrator", "the local account WinRM accepts")
	passwordFile := fl.String("password-file", "", "file holding the account's password")
	namespace := fl.String("namespace", "", "network namespace in which the firewall is enforced with nftables")
	auth := fl.String("auth", "ntlm,basic", "accepted authentication schemes: ntlm, basic, kerberos")
	keytab := fl.String("keytab", "", "the host's Kerberos keytab (its HTTP/<name> key), for --auth kerberos")
	principals := fl.String("kerberos-principals", "", "comma-separated domain accounts (user@REALM) that may use WinRM with Kerberos")
	clixml := fl.Bool("clixml", true, "write PowerShell's stderr as CLIXML, as Windows PowerShell 5.1 does over WinRM")
	if err := fl.Parse(args); err != nil {
		return err
	}
	for name, v := range map[string]string{"--host-dir": *hostDir, "--listen": *listen, "--cert": *cert, "--key": *key, "--password-file": *passwordFile} {
		if v == "" {
			return fmt.Errorf("serve-windows: %s is required", name)
		}
	}
	_, portStr, err := net.SplitHostPort(*listen)
	if err != nil {
		return fmt.Errorf("serve-windows: --listen: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("serve-windows: --listen: bad port %q", portStr)
	}
	pw, err := os.ReadFile(*passwordFile)
	if err != nil {
		return fmt.Errorf("serve-windows: reading the password: %w", err)
	}
	password := strings.TrimRight(string(pw), "\r\n")
	if password == "" {
		return errors.New("serve-windows: the password file is empty")
	}
	var allowBasic, allowNTLM, allowKerberos bool
	for _, a := range strings.Split(*auth, ",") {
		switch strings.TrimSpace(a) {
		case "basic":
			allowBasic = true
		case "ntlm":
			allowNTLM = true
		case "kerberos":
			allowKerberos = true
		case "":
		default:
			return fmt.Errorf("serve-windows: unknown --auth scheme %q", a)
		}
	}

	if allowKerberos != (*keytab != "") {
		return errors.New("serve-windows: --auth kerberos and --keytab go together")
	}
	var krbPrincipals []string
	for _, p := range strings.Split(*principals, ",") {
		if p = strings.TrimSpace(p); p != "" {
			krbPrincipals = append(krbPrincipals, p)
		}
	}

	logger := log.New(stderr, "", log.LstdFlags)
	fw, err := winfw.New(winfw.Options{
		StateDir:       *hostDir,
		Namespace:      *namespace,
		ManagementPort: port,
		Logf:           logger.Printf,
	})
	if err != nil {
		return fmt.Errorf("serve-windows: %w", err)
	}
	srv, err := wsman.NewServer(wsman.Config{
		Addr:         *listen,
		TLSCertFile:  *cert,
		TLSKeyFile:   *key,
		ComputerName: strings.ToUpper(filepath.Base(*hostDir)),
		Users:        map[string]string{*user: password},
		AllowBasic:   allowBasic,
		AllowNTLM:    allowNTLM,
		EmitCLIXML:   *clixml,
		Interpreter:  fw,
		Logf:         logger.Printf,

		KerberosKeytab:     *keytab,
		KerberosPrincipals: krbPrincipals,
	})
	if err != nil {
		return fmt.Errorf("serve-windows: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	logger.Printf("serving %s on %s (namespace %q)", filepath.Base(*hostDir), *listen, *namespace)
	if err := srv.ListenAndServe(); err != nil {
		return fmt.Errorf("serve-windows: %w", err)
	}
	return nil
}
