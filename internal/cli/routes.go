package cli

import (
	"net/http"

	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/internal/demo"
	"github.com/herd-sse/herd/internal/mercure"
	"github.com/herd-sse/herd/internal/web"
)

// faces are what herd serve serves beside the hub's own API; nil fields
// are off.
type faces struct {
	demo    *demo.Handler
	metrics http.Handler
	mercure *mercure.Handler
	ui      *dashboard
}

// A dashboard is the page at / and the counters it charts.
type dashboard struct{ page, stats http.Handler }

// routeTable is herd serve's route table: every route of every face, each
// declaring its guards (hub.Route). The hub mounts them all behind the
// same guards; TestRouteTable proves each guard on each route, and
// SECURITY.md lists them (TestRouteTable checks that list too).
func routeTable(h *hub.Hub, f faces) []hub.Route {
	rs := h.Routes()
	page := func(pattern, doc string, query []string, handler http.Handler) hub.Route {
		return hub.Route{Pattern: pattern, Caller: hub.Anyone, Origins: hub.SameOrigin, Query: query,
			Body: hub.NoBody, Rate: hub.NoRate, Errors: hub.Plain, Page: true, Doc: doc, Handler: handler}
	}
	rs = append(rs,
		hub.Route{Pattern: "GET /metrics", Caller: hub.Local, Origins: hub.SameOrigin, Query: hub.NoQuery,
			Body: hub.NoBody, Rate: hub.NoRate, Errors: hub.JSON, Doc: "Prometheus metrics", Handler: f.metrics},
		page("GET /demo/cowsay", "the cowsay demo page", []string{"client", "interval", "topic"}, http.HandlerFunc(f.demo.Page)),
		hub.Route{Pattern: "GET /demo/cowsay/events", Caller: hub.Anyone, Origins: hub.SameOrigin, Query: []string{"interval"},
			Body: hub.NoBody, Rate: hub.NoRate, Errors: hub.Plain, Doc: "the cowsay demo's own stream",
			Handler: http.HandlerFunc(f.demo.Events)},
		hub.Route{Pattern: "GET /static/", Caller: hub.Anyone, Origins: hub.SameOrigin, Query: []string{hub.AnyParam},
			Body: hub.NoBody, Rate: hub.NoRate, Errors: hub.Plain, Doc: "the pages' scripts and styles", Handler: web.Static()},
	)
	if f.ui != nil {
		rs = append(rs,
			page("GET /{$}", "the dashboard", hub.NoQuery, f.ui.page),
			hub.Route{Pattern: "GET /api/stats", Caller: hub.Local, Origins: hub.SameOrigin, Query: []string{"nodes"},
				Body: hub.NoBody, Rate: hub.NoRate, Errors: hub.JSON, Doc: "the dashboard's counters", Handler: f.ui.stats})
	}
	if m := f.mercure; m != nil {
		// Mercure's clients may send query parameters of later versions
		// of the protocol, which a Mercure hub ignores: any parameter is
		// let in, strictly parsed. Those that take one value are named,
		// so that one given twice is refused rather than half read (two
		// resume points).
		mq := []string{hub.AnyParam}
		sub := func(pattern, doc string) hub.Route {
			return hub.Route{Pattern: pattern, Caller: hub.Credential, Origins: hub.CORS, Query: mq,
				Body: hub.NoBody, Rate: hub.NoRate, Errors: hub.Plain, Doc: doc, Handler: m}
		}
		subscribe := sub("GET "+mercure.Path, "Mercure subscribe; a token, or none with --mercure-anonymous")
		subscribe.Query = []string{hub.AnyParam, "last_event_id", "lastEventID", "authorization"}
		rs = append(rs,
			subscribe,
			hub.Route{Pattern: "POST " + mercure.Path, Caller: hub.Credential, Origins: hub.CORS, Query: mq,
				Body: mercureBodyLimit(m), Rate: hub.PublishRate, Errors: hub.Plain, Doc: "Mercure publish; a publisher token",
				Handler: m},
			sub("GET "+mercure.Path+"/subscriptions", "Mercure subscriptions API (--mercure-subscriptions)"),
			sub("GET "+mercure.Path+"/subscriptions/", "Mercure subscriptions API, one topic or subscription"),
		)
	}
	return rs
}

// mercureBodyLimit is the most a Mercure publish's body may hold: an
// update of the largest size, and room for its other fields.
func mercureBodyLimit(m *mercure.Handler) int64 {
	size := int64(m.MaxDataSize)
	if size <= 0 {
		size = 1 << 20 // the handler's default
	}
	return 3*size + 64<<10 // form encoding triples a byte at worst
}
