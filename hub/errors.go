package hub

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/herd-sse/herd"
)

// The ends of subscriptions.
var (
	// ErrSlowSubscriber ends a subscription whose queue filled: it could
	// not keep up.
	ErrSlowSubscriber = errors.New("hub: subscriber could not keep up (queue full)")
	// ErrShuttingDown ends subscriptions, and refuses new ones and
	// publishes, when the hub closes.
	ErrShuttingDown = errors.New("hub: shutting down")
	// ErrTopicsClosed is returned by Subscribe when every topic asked for
	// is closed and the cursor is at or after the close (HTTP 204).
	ErrTopicsClosed = errors.New("hub: topics closed")
)

// An ErrorCode classifies the errors the hub reports to clients. The HTTP
// status of each is in one table, statusOf.
type ErrorCode string

// The codes.
const (
	EInvalid      ErrorCode = "invalid"      // bad input: 400
	EUnauthorized ErrorCode = "unauthorized" // missing or wrong credentials: 401
	EForbidden    ErrorCode = "forbidden"    // not allowed: 403
	ENotFound     ErrorCode = "not_found"    // 404
	EMethod       ErrorCode = "method"       // 405
	EConflict     ErrorCode = "conflict"     // the state forbids it (a closed topic): 409
	ETooLarge     ErrorCode = "too_large"    // 413
	EMediaType    ErrorCode = "media_type"   // 415
	ELimit        ErrorCode = "limit"        // too many: 429
	EUnavailable  ErrorCode = "unavailable"  // store down or hub shutting down: 503
	EInternal     ErrorCode = "internal"     // a bug: 500
)

var statusOf = map[ErrorCode]int{
	EInvalid:      http.StatusBadRequest,
	EUnauthorized: http.StatusUnauthorized,
	EForbidden:    http.StatusForbidden,
	ENotFound:     http.StatusNotFound,
	EMethod:       http.StatusMethodNotAllowed,
	EConflict:     http.StatusConflict,
	ETooLarge:     http.StatusRequestEntityTooLarge,
	EMediaType:    http.StatusUnsupportedMediaType,
	ELimit:        http.StatusTooManyRequests,
	EUnavailable:  http.StatusServiceUnavailable,
	EInternal:     http.StatusInternalServerError,
}

// HTTPStatus is the status the HTTP API answers an error of code c with.
func (c ErrorCode) HTTPStatus() int {
	if s, ok := statusOf[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// An Error is an error the hub reports to a client as is: Publish and
// Subscribe return them, and the HTTP API answers them with their code's
// status and {"error": Message}.
type Error struct {
	Code    ErrorCode
	Message string
	Err     error // the cause, logged but not shown, if any
	// RetryAfter, if positive, is sent as Retry-After: when to try again.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

// errorf returns an *Error with a formatted message.
func errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of err: its own if it is an *Error, EUnavailable
// for the errors of an unavailable store or a closing hub, and EInternal
// for anything else.
func CodeOf(err error) ErrorCode {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, ErrShuttingDown), errors.Is(err, herd.ErrStoreClosed):
		return EUnavailable
	}
	return EInternal
}

// unavailable reports a store that failed or timed out. For a publish
// that is not the same as "not stored": a broker that timed out may still
// store the event, so the message says what to do to publish exactly once.
func unavailable(what string, err error) *Error {
	msg := what + ": store unavailable; retry later"
	if what == "publish" {
		msg = "publish: store unavailable, event not acknowledged; retry with the same Idempotency-Key to publish it exactly once"
	}
	return &Error{Code: EUnavailable, Message: msg, Err: err}
}

// shuttingDown is the refusal of new work by a closing hub.
var shuttingDown = &Error{Code: EUnavailable, Message: "hub is shutting down", Err: ErrShuttingDown}
