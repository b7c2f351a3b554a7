//go:build !unix

package bacnet

import "syscall"

// shareLocalPort: without SO_REUSEPORT the BACnet port is bound only when
// free.
func shareLocalPort(_, _ string, _ syscall.RawConn) error { return nil }
