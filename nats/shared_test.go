//go:build integration

package nats_test

import "github.com/herd-sse/herd/internal/services"

// The integration run adds the shared NATS server of the machine, a
// separate process as in production.
func init() { servers = append(servers, server{"shared", services.NATSURL}) }
