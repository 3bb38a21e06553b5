package firewall

import "errors"

// errZone refuses an IPv6 address with a zone ("fe80::1%eth0") in what a
// host answers: a zone is an interface name, meaningless in a rule, and
// free text that must not travel on into a script.
var errZone = errors.New("an IPv6 zone is not accepted")
