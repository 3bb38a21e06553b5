package firewall

// This file stands in for the ufw backend until the ufw branch lands: that
// branch deletes it and defines newUFW in firewall/ufw.go. Detect already
// chooses ufw where it is active (or forced) and calls newUFW.

// newUFW returns the ufw backend for a host; here, an error saying that
// it is not implemented yet.
func newUFW(persistRoot string, f Facts) (Backend, error) {
	return nil, &UnsupportedError{Want: "ufw", Manager: "ufw",
		Reason: "ufw is active on this host, and portwarden's ufw backend is not implemented yet",
		Hint:   `disable ufw ("ufw disable") to manage the host with nftables, or wait for the ufw backend`}
}
