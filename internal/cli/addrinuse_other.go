//go:build !windows

package cli

import "syscall"

// errAddrInUse is what listening on a taken port fails with.
const errAddrInUse = syscall.EADDRINUSE
