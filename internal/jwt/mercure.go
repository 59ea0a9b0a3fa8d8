package jwt

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// The matcher types of Mercure's grants (MercureSelector.Kind).
const (
	MatchExact      = "exact"      // the topic exactly, or "*"
	MatchURLPattern = "urlpattern" // a URL pattern
	// MatchTemplate is Mercure 0.x's: "*", a URI template, or a topic.
	MatchTemplate = "topic"
)

// MercureDetailType is the type of Mercure's authorization details.
const MercureDetailType = "https://mercure.rocks/authorization-detail"

// Bounds on a token's Mercure authorization details, as Mercure bounds
// them: a token past them is refused (ErrClaims), not partly read.
const (
	MaxMercureDetails = 100 // Mercure details in one token
	MaxMercureTopics  = 100 // topic matchers across them
)

// MercureGrants are a token's Mercure grants: from Mercure 1.0's RFC 9396
// "authorization_details" of type MercureDetailType when the token has
// any, else from Mercure 0.x's "mercure" claim (Legacy).
type MercureGrants struct {
	Publish   []MercureSelector
	Subscribe []MercureSelector
	// Payload is the 0.x claim's mercure.payload, every subscription's.
	Payload json.RawMessage
	// Legacy: the grants come from the 0.x "mercure" claim.
	Legacy bool
}

// A MercureSelector is one granted topic matcher. Kind is its matcher type
// (MatchExact, MatchURLPattern or MatchTemplate); Payload, for a subscribe
// grant, is the payload of the authorization detail it belongs to.
type MercureSelector struct {
	Kind, Value string
	Payload     json.RawMessage
}

type mercureClaim struct {
	Publish   []string        `json:"publish"`
	Subscribe []string        `json:"subscribe"`
	Payload   json.RawMessage `json:"payload"`
}

type mercureDetail struct {
	Type    string            `json:"type"`
	Actions []string          `json:"actions"`
	Topics  []json.RawMessage `json:"topics"`
	Payload json.RawMessage   `json:"payload"`
}

type mercureTopic struct {
	Match     *string `json:"match"`
	MatchType *string `json:"match_type"`
}

// mercureGrants reads a token's Mercure grants, nil if it has none. A
// Mercure authorization detail that does not validate refuses the whole
// token (ErrClaims): honouring the rest would change what it grants.
// Details of other types are ignored, as are actions Mercure does not
// define.
func mercureGrants(claim *mercureClaim, details []json.RawMessage) (*MercureGrants, error) {
	var g *MercureGrants
	count, topics := 0, 0
	for _, raw := range details {
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, fmt.Errorf("%w: authorization_details: %v", ErrClaims, err)
		}
		if head.Type != MercureDetailType {
			continue
		}
		var d mercureDetail
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, fmt.Errorf("%w: Mercure authorization detail: %v", ErrClaims, err)
		}
		if g == nil {
			g = &MercureGrants{}
		}
		if count++; count > MaxMercureDetails {
			return nil, fmt.Errorf("%w: more than %d Mercure authorization details", ErrClaims, MaxMercureDetails)
		}
		if len(d.Actions) == 0 || len(d.Topics) == 0 {
			return nil, fmt.Errorf("%w: a Mercure authorization detail needs actions and topics", ErrClaims)
		}
		if topics += len(d.Topics); topics > MaxMercureTopics {
			return nil, fmt.Errorf("%w: more than %d Mercure topic matchers", ErrClaims, MaxMercureTopics)
		}
		if len(d.Payload) > 0 && !bytes.HasPrefix(bytes.TrimSpace(d.Payload), []byte("{")) && string(bytes.TrimSpace(d.Payload)) != "null" {
			return nil, fmt.Errorf("%w: a Mercure payload is a JSON object", ErrClaims)
		}
		sels := make([]MercureSelector, len(d.Topics))
		for i, rawTopic := range d.Topics {
			var t mercureTopic
			if err := json.Unmarshal(rawTopic, &t); err != nil || t.Match == nil || *t.Match == "" {
				return nil, fmt.Errorf(`%w: a Mercure topic matcher is an object with a non-empty "match"`, ErrClaims)
			}
			kind := MatchExact
			if t.MatchType != nil {
				kind = *t.MatchType
			}
			if kind != MatchExact && kind != MatchURLPattern {
				return nil, fmt.Errorf("%w: unsupported Mercure match_type %q", ErrClaims, kind)
			}
			sels[i] = MercureSelector{Kind: kind, Value: *t.Match, Payload: d.Payload}
		}
		for _, action := range d.Actions {
			switch action {
			case "publish":
				g.Publish = append(g.Publish, sels...)
			case "subscribe":
				g.Subscribe = append(g.Subscribe, sels...)
			}
		}
	}
	if g != nil || claim == nil {
		return g, nil
	}
	return &MercureGrants{Legacy: true, Payload: claim.Payload,
		Publish: templates(claim.Publish), Subscribe: templates(claim.Subscribe)}, nil
}

func templates(sels []string) []MercureSelector {
	out := make([]MercureSelector, len(sels))
	for i, s := range sels {
		out[i] = MercureSelector{Kind: MatchTemplate, Value: s}
	}
	return out
}
