package jwt

import (
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
)

// An Authenticator checks tokens for a hub against a key set that can be
// replaced while it serves (keys rotated on SIGHUP). It implements
// hub.Authenticator and is safe for concurrent use.
type Authenticator struct {
	keys atomic.Pointer[KeySet]
	now  func() time.Time // time.Now unless a test sets it
}

// NewAuthenticator returns an Authenticator checking with keys.
func NewAuthenticator(keys *KeySet) *Authenticator {
	a := &Authenticator{now: time.Now}
	a.keys.Store(keys)
	return a
}

// SetKeys replaces the key set; tokens are checked with the new one from
// the next call on. Streams already authorised are not re-checked.
func (a *Authenticator) SetKeys(keys *KeySet) { a.keys.Store(keys) }

// Authenticate implements hub.Authenticator. The grant expires when the
// token stops being accepted: at exp plus Leeway.
func (a *Authenticator) Authenticate(token string) (hub.Grant, error) {
	c, err := Verify(token, a.keys.Load(), a.now())
	if err != nil {
		return hub.Grant{}, clientError(err)
	}
	g := hub.Grant{Publish: selectors(c.Publish), Subscribe: selectors(c.Subscribe)}
	if !c.Expires.IsZero() {
		g.Expires = c.Expires.Add(Leeway)
	}
	return g, nil
}

// clientError drops the package prefix: the hub shows the text to clients
// as "token refused: …".
func clientError(err error) error {
	return errors.New(strings.TrimPrefix(err.Error(), "jwt: "))
}

// selectors keeps the claimed selectors that are valid herd selectors;
// others (Mercure's URI templates, say) grant nothing.
func selectors(claimed []string) []string {
	out := make([]string, 0, len(claimed))
	for _, s := range claimed {
		if herd.ValidateSelector(s) == nil {
			out = append(out, s)
		}
	}
	return out
}
