package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/portwarden/portwarden/inventory"
)

// Resolver is the slice of net.Resolver that ResolveAddresses needs.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ResolveAddresses looks up every host named by DNS, in parallel. Rules are
// written with addresses, so a name that does not resolve is an error.
func ResolveAddresses(ctx context.Context, inv *inventory.Inventory, r Resolver) (Addresses, error) {
	if r == nil {
		r = net.DefaultResolver
	}
	out := Addresses{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	for _, h := range inv.Hosts {
		if h.Addr.IsValid() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			as, err := r.LookupNetIP(ctx, "ip", h.Address)
			mu.Lock()
			defer mu.Unlock()
			if err != nil || len(as) == 0 {
				errs = append(errs, fmt.Errorf("resolving host %s address %q: %w", h.Name, h.Address, cmpErr(err)))
				return
			}
			for i := range as {
				if as[i].Zone() != "" {
					errs = append(errs, fmt.Errorf("resolving host %s address %q: the answer %s has an IPv6 zone, which portwarden refuses: name the host by an address without one", h.Name, h.Address, as[i]))
					return
				}
				as[i] = as[i].Unmap()
			}
			slices.SortFunc(as, netip.Addr.Compare)
			out[h.Name] = slices.Compact(as)
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func cmpErr(err error) error {
	if err == nil {
		return errors.New("no addresses")
	}
	return err
}
