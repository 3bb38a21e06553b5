package wsman

import (
	"context"
	"slices"
	"strings"
	"time"
)

// ShellInfo is one open WinRS shell, as shell enumeration lists it
// (Get-WSManInstance -ResourceURI shell -Enumerate on the host: ShellId,
// Owner, ClientIP...). ClientIP is the address of the TCP peer whose
// request created the shell, as the server saw it: behind NAT or a port
// forward, not the client's own idea of its address.
type ShellInfo struct {
	ShellID     string
	Owner       string
	ClientIP    string
	ResourceURI string
	Created     time.Time
}

type sessionKey struct{}

type session struct {
	srv  *Server
	user account
}

// withSession marks the context of a command run for user.
func withSession(ctx context.Context, srv *Server, user account) context.Context {
	return context.WithValue(ctx, sessionKey{}, session{srv, user})
}

// Shells enumerates the shells open on the server that runs the command
// whose context ctx is, as the command's user sees them: its own shells
// (a Windows administrator would see every user's; the lab has one
// account). ok is false when ctx is not a command's: no WinRM service to
// ask. An Interpreter uses it to answer shell enumeration.
func Shells(ctx context.Context) (shells []ShellInfo, ok bool) {
	sess, ok := ctx.Value(sessionKey{}).(session)
	if !ok {
		return nil, false
	}
	s := sess.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sh := range s.shells {
		if sh.owner.key == sess.user.key {
			shells = append(shells, ShellInfo{ShellID: sh.id, Owner: sh.owner.name, ClientIP: sh.clientIP, ResourceURI: resourceCmd, Created: sh.created})
		}
	}
	slices.SortFunc(shells, func(a, b ShellInfo) int { return strings.Compare(a.ShellID, b.ShellID) })
	return shells, true
}
