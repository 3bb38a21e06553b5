package transport

import (
	"context"
	"errors"
	"fmt"
)

// KeepAliver is a connection that can tell whether it is still alive
// without running anything on the host. A pool of connections kept across
// runs asks it before reusing one, and now and then while it is idle.
type KeepAliver interface {
	KeepAlive(ctx context.Context) error
}

// KeepAlive sends a keepalive@openssh.com global request and waits for
// the reply, as OpenSSH's ServerAliveInterval does: sshd answers it (with
// a failure, since it does not know the request), which proves the
// connection, and through a ProxyJump the bastion's, still carries
// traffic. When ctx ends first the connection is closed and counts as
// dead.
func (c *sshConn) KeepAlive(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("keepalive to %s: %w", c.name, err)
		}
		return nil
	case <-ctx.Done():
		c.Close() // unblocks SendRequest
		<-done
		return fmt.Errorf("keepalive to %s: %w", c.name, errors.Join(ctx.Err(), errors.New("no reply")))
	}
}
