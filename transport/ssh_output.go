package transport

import "fmt"

// MaxSSHOutput caps what one script may send back over SSH, stdout and
// stderr together, as MaxWinRMOutput does for WinRM: past it the
// controller keeps nothing more, kills the script and fails the host.
const MaxSSHOutput = 16 << 20

// tooMuchOutput is the error of a script whose host sent more than
// MaxSSHOutput.
func (c *sshConn) tooMuchOutput() error {
	return fmt.Errorf("%s sent more than %d MiB of output: %w; stopped keeping it and killed the script", c.name, MaxSSHOutput>>20, ErrOutputTooLarge)
}
