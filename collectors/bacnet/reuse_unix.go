//go:build unix

package bacnet

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// shareLocalPort lets every probe of a scan, and another BACnet program
// that allows it, bind the BACnet port at once.
func shareLocalPort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
