package mercure

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/herd-sse/herd/sse"
)

// FuzzPublish posts arbitrary forms to the Mercure endpoint with a token
// granting every topic. Whatever the input: a 200 answers the update's id
// in plain text, and a subscriber granted every topic receives that update
// under that id, readable as exactly one event; an anonymous subscriber of
// every topic receives it if and only if the form has no private field;
// anything else is a 4xx in plain text, never a 5xx.
func FuzzPublish(f *testing.F) {
	for _, form := range []string{
		"topic=a&data=x",
		"topic=https://example.com/books/1&topic=b&data=line+1%0Aline+2&id=urn:1&type=t&retry=10&private=on",
		"topic=a&data=x&id=id%0Aevent:%20evil",
		"topic=a&data=x&type=t%0D%0Aid:%201",
		"topic=a%2F*%25&data=%FF",
		"data=no+topic",
		"topic=a&retry=-1",
		"topic=a&id=earliest&data=x",
		"topic=2&id=0020a\x03\xe80000100", // found: an id a client would decode as another
		"topic=a&data=x&private=",
		"topic=a&data=x&private=false",
		"topic=a&data=x&private",
		"topic=a&data=x&id=same&private=1",
		"topic=a&data=x&id=same",
		"topic=%2F.well-known%2Fmercure%2Fsubscriptions%2Fexact%2Fa%2Fb&data=x",
	} {
		f.Add(form)
	}
	fx := newFixture(f, true)
	token := fx.token(publisher)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", fx.srv.URL+"?topic=*", nil)
	req.Header.Set("Authorization", "Bearer "+fx.token(map[string]any{"subscribe": []string{"*"}})) // private updates too
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.Fatal(err)
	}
	defer resp.Body.Close()
	events := sse.NewReader(resp.Body)
	anonReq, _ := http.NewRequestWithContext(ctx, "GET", fx.srv.URL+"?match=*", nil)
	anonResp, err := http.DefaultClient.Do(anonReq)
	if err != nil {
		f.Fatal(err)
	}
	defer anonResp.Body.Close()
	anonEvents := sse.NewReader(anonResp.Body)
	markers := 0

	f.Fuzz(func(t *testing.T, form string) {
		values, err := url.ParseQuery(form)
		if err != nil {
			return // not a form a client would send
		}
		_, private := values["private"]
		req, _ := http.NewRequest("POST", fx.srv.URL, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("answer %d with Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if resp.StatusCode != 200 {
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Fatalf("answer %d: %q", resp.StatusCode, body)
			}
			return
		}
		id := string(body)
		if id == "" || strings.ContainsAny(id, "\r\n\x00") || !utf8.ValidString(id) {
			t.Fatalf("answered id %q", id)
		}
		// A marker published after it bounds the wait: the update comes
		// before it.
		markers++
		marker := fmt.Sprintf("marker-%d", markers)
		req, _ = http.NewRequest("POST", fx.srv.URL, strings.NewReader(url.Values{"topic": {"fuzz-marker"}, "data": {"m"}, "id": {marker}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
			t.Fatalf("the marker: %v %v", err, resp)
		} else {
			resp.Body.Close()
		}
		timer := time.AfterFunc(10*time.Second, cancel) // a stuck read fails instead of hanging
		defer timer.Stop()
		for who, r := range map[string]*sse.Reader{"the granted subscriber": events, "the anonymous subscriber": anonEvents} {
			delivered := false
			for {
				e, err := r.Next()
				if err != nil {
					t.Fatalf("%s: published %q, then %s: %v", who, id, marker, err)
				}
				if e.ID == marker {
					break
				}
				if e.ID != id || delivered {
					t.Fatalf("%s: published %q, delivered %q", who, id, e.ID)
				}
				delivered = true
			}
			if want := r == events || !private; delivered != want {
				t.Fatalf("%s: published %q (private %v): delivered %v", who, id, private, delivered)
			}
		}
	})
}

// FuzzSubscribe opens subscriptions with arbitrary queries and
// Last-Event-IDs, anonymous or with a token granting one topic. Whatever
// the input: the answer is a stream (200) or a 4xx in plain text, never a
// 5xx; and a stream gets a private update only if the token grants it.
func FuzzSubscribe(f *testing.F) {
	for _, seed := range [][2]string{
		{"match=*", ""},
		{"match=secret&match=public", "earliest"},
		{"topic=%7B%2Bany%7D", "urn:uuid:00000000-0000-8000-8000-000000000000"},
		{"match_urlpattern=:a(.*)", "x"},
		{"match_urlpattern=" + url.QueryEscape(costlyPattern), ""},
		{"match_foo=a&last_event_id=b", ""},
		{"match=a&lastEventID=earliest&authorization=x", ""},
		{"", "\x00"},
	} {
		f.Add(seed[0], seed[1], false)
		f.Add(seed[0], seed[1], true)
	}
	fx := newFixture(f, true)
	publisherToken := fx.token(publisher)
	granted := fx.token(map[string]any{"subscribe": []string{"granted"}})
	f.Fuzz(func(t *testing.T, query, lastID string, withToken bool) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", fx.srv.URL+"?"+query, nil)
		if err != nil {
			return // not a URL a client would send
		}
		if lastID != "" {
			if !validProtocolString(lastID) {
				return // net/http would refuse to send it
			}
			req.Header.Set("Last-Event-ID", lastID)
		}
		if withToken {
			req.Header.Set("Authorization", "Bearer "+granted)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode < 400 || resp.StatusCode >= 500 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
				t.Fatalf("answer %d %q: %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			return
		}
		// Private updates to a granted and to a secret topic, then a public
		// marker: the stream may get the first (with a token) and the
		// marker (if it selects it), never the secret.
		marker := fmt.Sprintf("marker-%p", req)
		for _, form := range []url.Values{
			{"topic": {"granted"}, "data": {"granted"}, "private": {""}},
			{"topic": {"secret", "public"}, "data": {"secret"}, "private": {"on"}},
			{"topic": {"granted", "secret", "public"}, "data": {marker}},
		} {
			req, _ := http.NewRequest("POST", fx.srv.URL, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "Bearer "+publisherToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("publish %v: %v %v", form, err, resp)
			}
			resp.Body.Close()
		}
		// The marker has all three topics: a stream that selects any
		// update selects it, and gets it last. One that selects none can
		// get nothing to check, and is ended soon.
		timer := time.AfterFunc(100*time.Millisecond, cancel)
		defer timer.Stop()
		events := sse.NewReader(resp.Body)
		for {
			e, err := events.Next()
			if err != nil || e.Data == marker {
				return
			}
			if e.Data == "secret" || (e.Data == "granted" && !withToken) {
				t.Fatalf("query %q, token %v: got the private update %q", query, withToken, e.Data)
			}
		}
	})
}
