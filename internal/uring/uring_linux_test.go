//go:build linux

package uring

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

// nonBlockingPair returns the two ends of a Unix stream socket pair, the
// first non-blocking, as the engine's sockets are.
func nonBlockingPair(t *testing.T) (int, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	if err := unix.SetNonblock(fds[0], true); err != nil {
		t.Fatal(err)
	}
	return fds[0], fds[1]
}

// TestSendRing: a ring's sends and writevs report what write(2) on the
// non-blocking socket would: the bytes taken, -EAGAIN on a full socket at
// once (never waiting for it), -EPIPE once the peer is gone.
func TestSendRing(t *testing.T) {
	r, err := NewSendRing(8)
	if err != nil {
		t.Fatalf("io_uring: %v", err) // the machines herd runs its tests on have it
	}
	defer r.Close()
	run := func(n int) []int32 {
		t.Helper()
		res := make([]int32, n)
		if err := r.Run(n, func(tag uint64, v int32) { res[tag] = v }); err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b := nonBlockingPair(t)
	c, d := nonBlockingPair(t)
	one, two, three := []byte("data: one\n\n"), []byte("data: "), []byte("two\n\n")
	iov := make([]unix.Iovec, 2)
	for i, buf := range [][]byte{two, three} {
		iov[i].Base = &buf[0]
		iov[i].SetLen(len(buf))
	}
	r.Prepare(0, 1, a, nil, iov)
	r.Prepare(1, 0, c, one, nil)
	if got := run(2); got[0] != int32(len(one)) || got[1] != int32(len(two)+len(three)) {
		t.Fatalf("results %v, want [%d %d]", got, len(one), len(two)+len(three))
	}
	for fd, want := range map[int]string{b: "data: two\n\n", d: "data: one\n\n"} {
		buf := make([]byte, 64)
		if n, err := unix.Read(fd, buf); err != nil || string(buf[:n]) != want {
			t.Errorf("read %q, %v; want %q", buf[:max(n, 0)], err, want)
		}
	}

	// Full: -EAGAIN, at once (run would wait for ever for a send the
	// kernel parked).
	big := bytes.Repeat([]byte("x"), 1<<16)
	for {
		if _, err := unix.Write(a, big); err == unix.EAGAIN {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	r.Prepare(0, 0, a, one, nil)
	r.Prepare(1, 1, a, nil, iov)
	if got := run(2); got[0] != -int32(unix.EAGAIN) || got[1] != -int32(unix.EAGAIN) {
		t.Fatalf("on a full socket: %v, want -EAGAIN twice", got)
	}

	// Gone: -EPIPE (and no SIGPIPE: MSG_NOSIGNAL).
	unix.Close(d)
	r.Prepare(0, 0, c, one, nil)
	if got := run(1); got[0] != -int32(unix.EPIPE) {
		t.Fatalf("to a closed peer: %v, want -EPIPE", got)
	}
}
