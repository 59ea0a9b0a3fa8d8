package cli

import "syscall"

// errAddrInUse is what listening on a taken port fails with. On Windows
// that is Winsock's WSAEADDRINUSE (10048): syscall.EADDRINUSE there is a
// number Go invented, which no listen returns.
const errAddrInUse = syscall.Errno(10048)
