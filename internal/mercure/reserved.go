package mercure

import (
	"net/url"
	"path"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// validProtocolString reports whether s may be a Mercure topic, matcher,
// id or type: valid UTF-8 without C0 or C1 control characters, DEL, or
// format characters (bidirectional and zero-width controls, invisible and
// spoofing identifiers).
func validProtocolString(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return false
		}
		if r <= 0x1f || (r >= 0x7f && r <= 0x9f) || unicode.Is(unicode.Cf, r) {
			return false
		}
		i += size
	}
	return true
}

// reservedBase is the hub's URL for resolving topics: only the path of a
// resolved topic matters, so the host is a placeholder (.invalid, RFC
// 6761).
var reservedBase = &url.URL{Scheme: "https", Host: "hub.invalid", Path: Path}

var schemeAuthority = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:(//[^/?#]*)?`)

// addressesReserved reports whether a topic, resolved against the hub's
// URL, lies in the namespace Mercure reserves for the hub's own resources
// (subscription events): its path is Path or under it, whatever the
// scheme and host, after percent-decoding the unreserved characters and
// removing dot segments. A topic is read as browsers' URL parser would
// read it and, to be safe where Go's parser differs (it refuses some
// hosts and escapes browsers let through), also with its scheme and host
// cut off by hand: either reading in the namespace refuses it.
func addressesReserved(topic string) bool {
	special := true // http(s) and the other special schemes: \ is /
	if m := schemeAuthority.FindString(topic); m != "" {
		scheme := strings.ToLower(m[:strings.IndexByte(m, ':')])
		switch scheme {
		case "http", "https", "ws", "wss", "ftp", "file":
		default:
			special = false
		}
	}
	if special {
		topic = strings.ReplaceAll(topic, `\`, "/")
	}
	fixed := fixEscapes(topic)
	var paths []string
	if u, err := url.Parse(fixed); err == nil {
		paths = append(paths, reservedBase.ResolveReference(u).EscapedPath())
	}
	// By hand: drop scheme, authority, query and fragment.
	prefix := schemeAuthority.FindString(fixed)
	rest := fixed[len(prefix):]
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}
	if prefix == "" && !strings.HasPrefix(rest, "/") { // relative to the hub's URL
		rest = path.Dir(Path) + "/" + rest
	}
	paths = append(paths, rest)
	for _, p := range paths {
		p = decodeUnreserved(p)
		if clean := path.Clean(p); clean == Path || strings.HasPrefix(clean, Path+"/") || p == Path || strings.HasPrefix(p, Path+"/") {
			return true
		}
	}
	return false
}

// fixEscapes escapes every % that does not start an escape, as browsers
// leave it be where Go's parser would refuse the URL.
func fixEscapes(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && (i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2])) {
			b.WriteString("%25")
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// decodeUnreserved decodes the escapes of unreserved characters (RFC 3986
// 6.2.2.2): /.well-known/%6Dercure is /.well-known/mercure.
func decodeUnreserved(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			if c := unhex(s[i+1])<<4 | unhex(s[i+2]); isUnreserved(c) {
				b.WriteByte(c)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
