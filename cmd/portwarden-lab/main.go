// Command portwarden-lab runs portwarden's test lab: hosts in network
// namespaces on a bridge, with real OpenSSH servers (Linux) and simulated
// WinRM servers (Windows).
//
//	portwarden-lab up --dir DIR --linux N [--firewalld K] [--ufw M] [--windows W] [--baseline drop] [--password-auth]
//	portwarden-lab status --dir DIR
//	portwarden-lab reboot --dir DIR HOST
//	portwarden-lab down --dir DIR
//	portwarden-lab list
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/portwarden/portwarden/lab"
)

const usage = `usage:
  portwarden-lab up --dir DIR --linux N [--firewalld K] [--ufw M] [--windows W] [--baseline drop] [--password-auth]
  portwarden-lab status --dir DIR
  portwarden-lab reboot --dir DIR HOST   (stop a Linux host, flush its ruleset, boot it from its own /etc)
  portwarden-lab down --dir DIR
  portwarden-lab list
  portwarden-lab exec --dir DIR HOST -- COMMAND [ARG...]   (run a command in a host's namespaces)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "portwarden-lab: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "up":
		return cmdUp(ctx, args[1:], stdout, stderr)
	case "down":
		return cmdDown(args[1:], stdout, stderr)
	case "status":
		return cmdStatus(args[1:], stdout, stderr)
	case "list":
		return cmdList(ctx, stdout)
	case "exec":
		return cmdExec(ctx, args[1:], stdout, stderr)
	case "reboot":
		return cmdReboot(ctx, args[1:], stdout, stderr)
	case "serve-windows":
		return serveWindows(ctx, args[1:], stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func cmdUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("up", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dir := fl.String("dir", "", "lab directory (created if missing)")
	linux := fl.Int("linux", 0, "number of Linux hosts")
	windows := fl.Int("windows", 0, "number of Windows hosts")
	firewalld := fl.Int("firewalld", 0, "how many of the Linux hosts run firewalld")
	ufw := fl.Int("ufw", 0, "how many of the Linux hosts have ufw enabled")
	baseline := fl.String("baseline", "", `pre-existing firewall on Linux hosts: "" or "drop"`)
	passwordAuth := fl.Bool("password-auth", false, "let sshd accept passwords (root stays key-only)")
	kerberos := fl.Bool("kerberos", false, "run an MIT KDC (realm "+lab.KerberosRealm+") and make the Windows hosts accept Kerberos only")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("up: --dir is required")
	}
	if *baseline != "" && *baseline != "drop" {
		return fmt.Errorf("up: unknown --baseline %q: want \"drop\"", *baseline)
	}
	start := time.Now()
	l, err := lab.Up(ctx, lab.Options{
		Dir:          *dir,
		Linux:        *linux,
		Windows:      *windows,
		Kerberos:     *kerberos,
		Firewalld:    *firewalld,
		UFW:          *ufw,
		BaselineDrop: *baseline == "drop",
		PasswordAuth: *passwordAuth,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "lab %d up in %s: %s on bridge %s, controller %s\n",
		l.ID, time.Since(start).Round(time.Millisecond), l.Subnet, l.Bridge, l.Controller)
	printHosts(stdout, l, nil)
	if l.KDC != nil {
		fmt.Fprintf(stdout, "kdc          %s:88 (realm %s, user %s), krb5.conf %s\n", l.KDC.Address, lab.KerberosRealm, lab.KerberosUser(), l.Krb5ConfPath())
	}
	fmt.Fprintf(stdout, "\ninventory:   %s\nkey:         %s\nknown_hosts: %s\n", l.InventoryPath(), l.KeyPath(), l.KnownHostsPath())
	fmt.Fprintf(stdout, "take it down with: portwarden-lab down --dir %s\n", l.Dir)
	return nil
}

func cmdDown(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("down", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dir := fl.String("dir", "", "lab directory")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("down: --dir is required")
	}
	l, err := lab.Load(*dir)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stdout, "no lab in %s\n", *dir)
		return nil
	}
	if err != nil {
		return err
	}
	if err := l.Down(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "lab %d down\n", l.ID)
	return nil
}

func cmdStatus(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("status", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dir := fl.String("dir", "", "lab directory")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("status: --dir is required")
	}
	l, err := lab.Load(*dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "lab %d: %s on bridge %s, controller %s\n", l.ID, l.Subnet, l.Bridge, l.Controller)
	state := map[string]string{}
	for _, h := range l.Hosts {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(h.Address.String(), fmt.Sprint(h.Port)), time.Second)
		if err != nil {
			state[h.Name] = "down"
			continue
		}
		c.Close()
		state[h.Name] = "up"
	}
	printHosts(stdout, l, state)
	return nil
}

// cmdList prints the labs on this machine, also forgotten ones.
func cmdList(ctx context.Context, stdout io.Writer) error {
	labs, err := lab.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tBRIDGE\tDIR\tSTATE")
	for _, r := range labs {
		state := "lab.json present"
		if r.Dir == "" {
			state = "unknown directory"
		} else if _, err := os.Stat(filepath.Join(r.Dir, "lab.json")); err != nil {
			state = "lab.json missing"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", r.ID, r.Bridge, r.Dir, state)
	}
	return tw.Flush()
}

func printHosts(w io.Writer, l *lab.Lab, state map[string]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "HOST\tOS\tMANAGER\tADDRESS\tIPV6\tNAMESPACE\tROLES")
	if state != nil {
		fmt.Fprint(tw, "\tSTATE")
	}
	fmt.Fprintln(tw)
	for _, h := range l.Hosts {
		v6 := "-"
		if h.Address6.IsValid() {
			v6 = h.Address6.String()
		}
		manager := "-"
		if h.OS == lab.Linux {
			manager = cmp.Or(h.Manager, "none")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s:%d\t%s\t%s\t%v", h.Name, h.OS, manager, h.Address, h.Port, v6, h.Namespace, h.Roles)
		if state != nil {
			fmt.Fprintf(tw, "\t%s", state[h.Name])
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// cmdReboot reboots a Linux lab host (lab.Reboot).
func cmdReboot(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("reboot", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dir := fl.String("dir", "", "lab directory")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *dir == "" || fl.NArg() != 1 {
		return errors.New("usage: portwarden-lab reboot --dir DIR HOST")
	}
	l, err := lab.Load(*dir)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := l.Reboot(ctx, fl.Arg(0)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s rebooted in %s (boot log: %s)\n", fl.Arg(0), time.Since(start).Round(time.Millisecond), filepath.Join(l.Dir, "hosts", fl.Arg(0), "boot.log"))
	return nil
}

// cmdExec runs a command inside a lab host's namespaces (network and
// mount): the demo and people use it to change a host by hand (drift).
func cmdExec(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("exec", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dir := fl.String("dir", "", "lab directory")
	if err := fl.Parse(args); err != nil {
		return err
	}
	rest := fl.Args()
	if *dir == "" || len(rest) < 2 {
		return errors.New("usage: portwarden-lab exec --dir DIR HOST -- COMMAND [ARG...]")
	}
	host, argv := rest[0], rest[1:]
	if argv[0] == "--" {
		argv = argv[1:]
	}
	if len(argv) == 0 {
		return errors.New("exec: no command given")
	}
	l, err := lab.Load(*dir)
	if err != nil {
		return err
	}
	if _, ok := l.Host(host); !ok {
		return fmt.Errorf("exec: the lab has no host %q", host)
	}
	out, err := l.Exec(ctx, host, nil, argv...)
	stdout.Write(out)
	return err
}
