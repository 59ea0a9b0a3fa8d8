package hub

import (
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// isLocal reports whether r comes from this machine: from a loopback
// address, not forwarded by a proxy (no X-Forwarded-For or Forwarded
// header: a proxy on this machine makes every client look local), and
// naming this machine in its Host header, so that a page whose domain an
// attacker rebinds to 127.0.0.1 is not taken for local.
func (a *access) isLocal(r *http.Request) bool {
	return fromThisMachine(r) && hostAllowed(a.allowedHosts, r.Host)
}

// fromThisMachine reports whether r comes from a loopback address and was
// not forwarded by a proxy.
func fromThisMachine(r *http.Request) bool {
	if r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != "" {
		return false
	}
	return clientAddr(r).IsLoopback()
}

// hostAllowed reports whether a Host header names this machine: an IP
// address, localhost or a name under .localhost (which browsers resolve
// to loopback themselves), or one of allowed. A DNS rebinding attack can
// only send its own domain's name.
func hostAllowed(allowed []string, hostport string) bool {
	host := hostport
	if hh, _, err := net.SplitHostPort(hostport); err == nil {
		host = hh
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if _, err := netip.ParseAddr(host); err == nil || host == "" {
		return true
	}
	return host == "localhost" || strings.HasSuffix(host, ".localhost") || slices.Contains(allowed, host)
}

// GuardHost refuses (403) requests from this machine that name a host
// other than this machine's: an IP address, localhost, a name under
// .localhost, or one of allowedHosts (lower-case names, no ports). Such
// requests are what a web page sends after its attacker rebinds the page's
// domain to 127.0.0.1; unrefused, the page could read and publish as a
// local client. Requests from elsewhere, or forwarded by a proxy (which
// names the public host), pass. A Hub guards its own routes; GuardHost is
// for other handlers on the same machine, like a profiler.
func GuardHost(allowedHosts []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkHost(allowedHosts, r); err != nil {
			writeError(w, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func checkHost(allowed []string, r *http.Request) error {
	if fromThisMachine(r) && !hostAllowed(allowed, r.Host) {
		return errorf(EForbidden, "host %q is not this hub's: a request from this machine must name localhost, "+
			"an IP address or a host in --allowed-hosts (DNS rebinding); a proxy on this machine should send X-Forwarded-For", r.Host)
	}
	return nil
}
