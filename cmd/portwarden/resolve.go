package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"

	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/orchestrator"
)

// systemResolver resolves host names; tests replace it, so that they send
// no DNS query.
var systemResolver orchestrator.Resolver = net.DefaultResolver

// recordingResolver resolves with systemResolver and keeps each name's
// error, so that a failure is reported at the host's address.
type recordingResolver struct {
	mu   sync.Mutex
	errs map[string]error
}

func (r *recordingResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	as, err := systemResolver.LookupNetIP(ctx, network, host)
	if err != nil {
		r.mu.Lock()
		r.errs[host] = err
		r.mu.Unlock()
	}
	return as, err
}

// placeholderAddr stands for the i-th host whose address is not known
// (offline, or its DNS name did not resolve), so that the rules of every
// other host can still be computed. It lies in 100::/64, the IPv6
// discard-only prefix (RFC 6666): rules that contain it are never shown,
// planned or applied, and no probe ever goes to it.
func placeholderAddr(i int) netip.Addr {
	var b [16]byte
	b[0], b[1] = 0x01, 0x00
	b[14], b[15] = byte(i>>8), byte(i)
	return netip.AddrFrom16(b)
}

var placeholderPrefix = netip.MustParsePrefix("100::/64")

// resolveHosts finds the addresses of the hosts named by DNS. Offline, it
// looks nothing up. Every host without an address gets a placeholder; the
// names that did not resolve come back with a diagnostic each, at the
// address in the inventory.
func resolveHosts(ctx context.Context, inv *inventory.Inventory, offline bool) (orchestrator.Addresses, map[string]bool, hcl.Diagnostics) {
	addrs := orchestrator.Addresses{}
	rr := &recordingResolver{errs: map[string]error{}}
	if !offline {
		addrs, _ = orchestrator.ResolveAddresses(ctx, inv, rr) // errors: rr.errs, below
	}
	missing := map[string]bool{}
	var diags hcl.Diagnostics
	for i, h := range inv.Hosts {
		if h.Addr.IsValid() || len(addrs[h.Name]) > 0 {
			continue
		}
		addrs[h.Name] = []netip.Addr{placeholderAddr(i)}
		if offline {
			continue
		}
		missing[h.Name] = true
		err := rr.errs[h.Address]
		detail := fmt.Sprintf("The address of host %q, %q, did not resolve", h.Name, h.Address)
		if h.AddressComputed {
			detail = fmt.Sprintf("The address of host %q did not resolve (it is not shown: it comes from env(), file() or a reference)", h.Name)
		}
		if err != nil {
			msg := strings.TrimPrefix(err.Error(), "lookup "+h.Address+": ")
			if h.AddressComputed {
				msg = strings.ReplaceAll(msg, h.Address, "the name")
			}
			detail += ": " + msg
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unresolvable address",
			Detail:   detail + ". The host, and every host whose rules need its address, is left out; the other hosts go on.",
			Subject:  h.AddressRange.Ptr(),
		})
	}
	return addrs, missing, diags
}

// shownAddress is h's address for an error, or where it is written when
// it is not written out: one computed by env(), file() or a reference is
// never shown in a diagnostic.
func shownAddress(h *inventory.Host) string {
	if !h.AddressComputed {
		return strconv.Quote(h.Address)
	}
	return "(not shown: computed)"
}

// needsPlaceholder names the unresolved hosts whose addresses hr's rules
// would need, or nil.
func needsPlaceholder(hr *orchestrator.HostRules, inv *inventory.Inventory, addrs orchestrator.Addresses, missing map[string]bool) []string {
	if len(missing) == 0 {
		return nil
	}
	var names []string
	for _, r := range hr.Rules {
		for _, s := range r.Sources {
			if !placeholderPrefix.Overlaps(s) {
				continue
			}
			// Sources are aggregated: one prefix may stand for several
			// placeholders.
			for _, h := range inv.Hosts {
				if missing[h.Name] && !slices.Contains(names, h.Name) && slices.ContainsFunc(addrs[h.Name], s.Contains) {
					names = append(names, h.Name)
				}
			}
		}
	}
	return names
}

// withoutPlaceholders returns the real addresses only.
func withoutPlaceholders(addrs orchestrator.Addresses) orchestrator.Addresses {
	out := orchestrator.Addresses{}
	for n, as := range addrs {
		if len(as) > 0 && !placeholderPrefix.Contains(as[0]) {
			out[n] = as
		}
	}
	return out
}
