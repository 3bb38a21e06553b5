package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portwarden/portwarden/lab"
)

// The injection suite: every string field of the inventory and of a policy
// set to shell and PowerShell metacharacters, one field at a time, then
// plan, apply and verify against lab hosts. A payload that ran anywhere
// (on the controller or on a host: the lab's hosts share this machine's
// file system but /root) would create the canary file. Each field is
// either refused with a diagnostic or carried quoted; silent execution
// fails the test. Windows hosts are not in this suite: the simulation
// interprets NetSecurity cmdlets and cannot run a payload either way.

// hostilePayload is every metacharacter form at once, each trying to
// create canary.
func hostilePayload(canary string) string {
	return "x$(touch " + canary + ")`touch " + canary + "`'; touch " + canary + "; '\"; touch " + canary + "; \"\ntouch " + canary +
		"\n& touch " + canary + "; Remove-Item -Force " + canary + "; $env:TEMP | touch " + canary + " #"
}

// hclQuote renders s as an HCL string literal: Go's quoting, with "${"
// and "%{" escaped so that HCL does not read a template.
func hclQuote(s string) string {
	q := fmt.Sprintf("%q", s)
	return strings.NewReplacer("${", "$${", "%{", "%%{").Replace(q)
}

const injectionPolicy = `
variable "@VARNAME@" {
  description = @VARDESC@
  default     = true
}
role @RNAME@ {
  description = @RDESC@
  os          = ["linux"]
}
flow @FNAME@ {
  section     = @SECTION@
  description = @FDESC@
  from        = [@RNAME@]
  to          = ["linux_server"]
  protocol    = "tcp"
  ports       = [9100]
}
`

const injectionInventory = `
defaults {
  ssh {
    private_key = @KEY@
    known_hosts = @KNOWN@
    user        = @USER@
    connect_timeout = "3s"
  }
}
group @GROUP@ {
  mode = @MODE@
}
network @NETWORK@ {
  cidrs = [@CIDR@]
  roles = ["console"]
}
host @HOST@ {
  address      = @ADDRESS@
  os           = @OS@
  roles        = ["backup_repository"]
  groups       = [@GROUP@]
  firewall     = @FIREWALL@
  persist_root = @PERSIST@
  ssh {
    proxy_jump    = @JUMP@
    sudo          = @SUDO@
    sudo_password = @SUDOPW@
  }
}
host "lnx02" {
  address      = @ADDRESS2@
  os           = "linux"
  roles        = [@RNAME@]
  persist_root = @PERSIST2@
}
host "vbr" {
  address = @CONTROLLER@
  os      = "windows"
  roles   = ["backup_server"]
  managed = false
}
`

func TestInjectionSuite(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Linux: 2})
	h1, _ := l.Host("lnx01")
	h2, _ := l.Host("lnx02")
	dir := t.TempDir()
	canary := filepath.Join(dir, "CANARY")
	payload := hostilePayload(canary)
	safe := map[string]string{
		"KEY": hclQuote(l.KeyPath()), "KNOWN": hclQuote(l.KnownHostsPath()), "USER": `"root"`,
		"GROUP": `"site"`, "MODE": `"additive"`, "NETWORK": `"mgmt"`, "CIDR": `"198.51.100.0/24"`,
		"HOST": `"lnx01"`, "ADDRESS": hclQuote(h1.Address.String()), "OS": `"linux"`, "FIREWALL": `"auto"`,
		"PERSIST": hclQuote(h1.PersistRoot), "JUMP": `""`, "SUDO": "false", "SUDOPW": `""`,
		"ADDRESS2": hclQuote(h2.Address.String()), "PERSIST2": hclQuote(h2.PersistRoot), "CONTROLLER": hclQuote(l.Controller.String()),
		"VARNAME": "pw_inj", "VARDESC": `"v"`, "RNAME": `"monitoring"`, "RDESC": `"Prometheus"`, "FNAME": `"scrape"`,
		"SECTION": `"Local: monitoring"`, "FDESC": `"Prometheus scrapes"`,
	}
	// Fields whose payload must be a bare identifier in HCL are given as
	// a quoted label where the grammar allows one.
	fields := []string{"KEY", "KNOWN", "USER", "GROUP", "MODE", "NETWORK", "CIDR", "HOST", "ADDRESS", "OS", "FIREWALL",
		"PERSIST", "JUMP", "SUDOPW", "SUDOPW1", "RNAME", "RDESC", "FNAME", "SECTION", "FDESC", "VARDESC", "VARNAME"}
	render := func(tmpl string, vals map[string]string) string {
		for k, v := range vals {
			tmpl = strings.ReplaceAll(tmpl, "@"+k+"@", v)
		}
		return tmpl
	}
	noCanary := func(field, stage string) {
		t.Helper()
		if _, err := os.Stat(canary); err == nil {
			t.Fatalf("%s: a payload ran during %s: %s exists", field, stage, canary)
		}
		for _, h := range []string{"lnx01", "lnx02"} {
			if out, _ := l.Exec(t.Context(), h, nil, "sh", "-c", "ls /root/CANARY /CANARY 2>/dev/null; true"); len(out) > 0 {
				t.Fatalf("%s: a payload ran on %s during %s: %s", field, h, stage, out)
			}
		}
	}
	for _, field := range append([]string{"none"}, fields...) {
		t.Run(field, func(t *testing.T) {
			vals := map[string]string{}
			for k, v := range safe {
				vals[k] = v
			}
			if field == "VARNAME" {
				vals[field] = strings.NewReplacer("\n", "_", " ", "_", `"`, "_").Replace(payload)
			} else if field != "none" {
				vals[field] = hclQuote(payload)
			}
			if field == "SUDOPW1" { // one line, so that it reaches sudo
				vals["SUDOPW"] = hclQuote(strings.ReplaceAll(payload, "\n", " "))
			}
			if field == "SUDOPW" || field == "SUDOPW1" {
				vals["SUDO"] = "true"
			}
			fdir := filepath.Join(dir, field)
			pol := filepath.Join(fdir, "policy")
			os.MkdirAll(pol, 0o755)
			os.WriteFile(filepath.Join(pol, "p.hcl"), []byte(render(injectionPolicy, vals)), 0o644)
			inv := filepath.Join(fdir, "inventory.hcl")
			os.WriteFile(inv, []byte(render(injectionInventory, vals)), 0o644)
			args := []string{"--inventory", inv, "--policy", pol}

			out, errOut, code := runCLI(t, append([]string{"plan"}, args...)...)
			noCanary(field, "plan")
			if code == 1 && field == "none" {
				t.Fatalf("the safe inventory does not plan:\n%s\n%s", out, errOut)
			}
			if code == 1 {
				if !strings.Contains(errOut, "Error") && !strings.Contains(out, "✗") {
					t.Fatalf("plan failed without a diagnostic or a host error:\n%s\n%s", out, errOut)
				}
				t.Logf("refused: %s", firstLine(errOut+out))
				return
			}
			out, errOut, code = runCLI(t, append([]string{"apply", "--auto-approve"}, args...)...)
			noCanary(field, "apply")
			if field == "none" && code != 0 {
				t.Fatalf("the safe inventory does not apply: exit %d\n%s\n%s", code, out, errOut)
			}
			_, _, _ = runCLI(t, append([]string{"verify"}, args...)...)
			noCanary(field, "verify")
			_, _, _ = runCLI(t, append([]string{"apply", "--auto-approve", "--destroy"}, args...)...)
			noCanary(field, "destroy")
			t.Logf("carried (apply exit %d)", code)
		})
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
