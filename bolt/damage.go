package bolt

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// A DamagedError reports a store file that cannot be read as a herd store:
// truncated, overwritten or otherwise corrupted. bbolt reads its file
// through a memory map and trusts it: on a damaged file it panics or the
// process faults (SIGBUS). The store verifies a file before it opens it,
// and turns a panic or fault met later into this error, so that herd
// reports it in one line instead of crashing. Once damaged, a Store
// answers every call with the error.
type DamagedError struct {
	Path  string
	Cause string // what is wrong, as found
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("bolt: %s is damaged (%s): restore it from a backup, or move it away to start with an empty history; "+
		"herd check --store bolt:%s checks a file", e.Path, e.Cause, e.Path)
}

// guard runs fn, turning a panic or a memory fault inside it (bbolt
// reading a damaged file) into a *DamagedError for path. It must run on
// the goroutine that touches the memory map: faults are per goroutine.
func guard(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &DamagedError{Path: path, Cause: panicCause(r)}
		}
	}()
	return fn()
}

// panicCause says in a few words what a recovered panic was.
func panicCause(r any) string {
	var re runtime.Error
	if err, ok := r.(error); ok && errors.As(err, &re) && strings.Contains(re.Error(), "fault") {
		return "reading it faulted: it is shorter than its own records say, or unreadable"
	}
	msg := fmt.Sprint(r)
	msg = strings.TrimPrefix(msg, "assertion failed: ")
	if i := strings.IndexAny(msg, "\r\n"); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return msg
}
