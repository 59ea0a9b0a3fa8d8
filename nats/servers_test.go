package nats_test

import (
	"testing"

	"github.com/herd-sse/herd/internal/services/inproc"
)

// A server is a NATS server the tests run on.
type server struct {
	name string
	url  func(testing.TB) string
}

// servers are the NATS servers the tests run on: nats-server's own code
// in this process (JetStream in a temporary directory), always, so that
// the unit tests (go test ./...) cover the store; the shared server too
// under the integration build tag (shared_test.go).
var servers = []server{{"embedded", inproc.NATS}}

// eachServer runs f on each server, as a subtest named after it.
func eachServer(t *testing.T, f func(t *testing.T, url string)) {
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) { f(t, s.url(t)) })
	}
}
