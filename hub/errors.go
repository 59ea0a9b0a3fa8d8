package hub

import (
	"errors"
	"fmt"
	"net/http"
	"time"
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
	ETooLarge:     http.StatusRequestEntityTooLarge,
	EMediaType:    http.StatusUnsupportedMediaType,
	ELimit:        http.StatusTooManyRequests,
	EUnavailable:  http.StatusServiceUnavailable,
	EInternal:     http.StatusInternalServerError,
}

// An Error is an error the hub reports to a client as is.
type Error struct {
	Code    ErrorCode
	Message string
	Err     error // the cause, logged but not shown, if any
	// RetryAfter, if positive, is sent as Retry-After: when to try again.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
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
	case errors.Is(err, ErrShuttingDown), errors.Is(err, ErrStoreClosed):
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
