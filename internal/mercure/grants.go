package mercure

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/herd-sse/herd/internal/jwt"
)

// grants are what a token lets its bearer do, compiled.
type grants struct {
	publish   []*selector
	subscribe []*selector
	payloads  []json.RawMessage // subscribe[i]'s authorization detail's payload
	payload   json.RawMessage   // the 0.x claim's, for every subscription
	expires   time.Time         // the token's exp; zero if none
}

// grants compiles a token's Mercure grants. A token with none this
// Handler honours (a 0.x claim out of compatibility) grants nothing; one
// with a grant that does not compile, or too many, is refused.
func (h *Handler) grants(c jwt.Claims) (*grants, error) {
	g := &grants{expires: c.Expires}
	m := c.Mercure
	if m == nil || (m.Legacy && !h.legacy()) {
		return g, nil
	}
	if len(m.Publish) > maxSelectors || len(m.Subscribe) > maxSelectors {
		return nil, fmt.Errorf("more than %d topic matchers for one action", maxSelectors)
	}
	b := newBudget()
	for _, s := range m.Publish {
		sel, err := parseSelector(s.Kind, s.Value, b)
		if err != nil {
			return nil, fmt.Errorf("granted matcher %.64q: %v", s.Value, err)
		}
		g.publish = append(g.publish, sel)
	}
	for _, s := range m.Subscribe {
		sel, err := parseSelector(s.Kind, s.Value, b)
		if err != nil {
			return nil, fmt.Errorf("granted matcher %.64q: %v", s.Value, err)
		}
		g.subscribe = append(g.subscribe, sel)
		g.payloads = append(g.payloads, s.Payload)
	}
	g.payload = m.Payload
	return g, nil
}

// payloadFor returns the payload of a subscription with matcher value:
// that of the first subscribe grant matching the value as if it were a
// topic, else the 0.x claim's.
func (g *grants) payloadFor(value string) json.RawMessage {
	if g == nil {
		return nil
	}
	for i, s := range g.subscribe {
		if s.matches(value) {
			if len(g.payloads[i]) > 0 && string(g.payloads[i]) != "null" {
				return g.payloads[i]
			}
			break
		}
	}
	return g.payload
}
