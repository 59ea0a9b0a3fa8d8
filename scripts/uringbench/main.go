//go:build linux

// Command uringbench measures what a batch of writes through io_uring
// saves over a write(2) per socket, the way the hub's connection engine
// writes a fan-out: N loopback TCP connections (2,000), one ~100-byte
// frame written to each per round, RATE rounds a second (20, as in herd
// bench persub's one-topic step), blocks of 3 s per way of writing,
// interleaved, REPS times. The readers run in a child process, so the CPU
// each side reports (getrusage: user and system) is its own. It prints
// the writer's and the readers' CPU per delivery for write(2) and for
// io_uring submissions of 16, 64 and 256 sends (IORING_OP_SEND with
// MSG_DONTWAIT, one io_uring_enter per batch, waiting for all
// completions).
//
// On the 2-core VM herd is measured on (kernel 6.18, a load average of 12
// from other work), five rounds, medians (ranges): the writer's CPU per
// delivery was 6.71 µs (5.54–7.32) with write(2), 3.72 (3.52–5.37) with
// batches of 16, 3.32 (3.10–4.07) with 64, 3.06 (2.69–3.43) with 256;
// the readers' 8.4 µs whichever way. That is why the engine's writers
// batch their writes through io_uring (hub/engine_ring_linux.go).
//
//	go run ./scripts/uringbench            # N=2000 RATE=20 REPS=5
//	go run ./scripts/uringbench check      # a full socket answers -EAGAIN at once
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"github.com/herd-sse/herd/internal/uring"
	"golang.org/x/sys/unix"
)

func cpu() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reader(addr string, n int) {
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			panic(err)
		}
		go func() {
			buf := make([]byte, 4096)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	in := bufio.NewReader(os.Stdin)
	for {
		if _, err := in.ReadByte(); err != nil {
			return
		}
		fmt.Println(int64(cpu()))
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "reader" {
		n, _ := strconv.Atoi(os.Args[3])
		reader(os.Args[2], n)
		return
	}
	n := 2000
	rate := 20
	secs := 3
	reps := 5
	if v := os.Getenv("N"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	if v := os.Getenv("REPS"); v != "" {
		reps, _ = strconv.Atoi(v)
	}
	if v := os.Getenv("RATE"); v != "" {
		rate, _ = strconv.Atoi(v)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	cmd := exec.Command(os.Args[0], "reader", ln.Addr().String(), strconv.Itoa(n))
	childIn, _ := cmd.StdinPipe()
	childOut, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	childR := bufio.NewReader(childOut)
	childCPU := func() time.Duration {
		childIn.Write([]byte{1})
		line, _ := childR.ReadString('\n')
		v, _ := strconv.ParseInt(line[:len(line)-1], 10, 64)
		return time.Duration(v)
	}
	fds := make([]int, n)
	for i := range fds {
		c, err := ln.Accept()
		if err != nil {
			panic(err)
		}
		raw, _ := c.(syscall.Conn).SyscallConn()
		raw.Control(func(f uintptr) { fds[i], _ = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) })
		c.Close()
	}
	frame := []byte("id: 12345\nevent: update\ndata: {\"hello\":\"world\",\"n\":1234567890,\"pad\":\"xxxxxxxxxxxxxxxxxxx\"}\n\n")
	fmt.Fprintf(os.Stderr, "frame %d bytes, %d conns, %d rounds/s, %ds per block\n", len(frame), n, rate, secs)

	rings := map[int]*uring.SendRing{}
	ringFor := func(batch int) *uring.SendRing {
		if r := rings[batch]; r != nil {
			return r
		}
		r, err := uring.NewSendRing(uint32(batch))
		if err != nil {
			panic(err)
		}
		rings[batch] = r
		return r
	}
	bad := 0
	roundWrite := func() {
		for _, fd := range fds {
			k, _, errno := syscall.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&frame[0])), uintptr(len(frame)))
			if errno != 0 || int(k) != len(frame) {
				bad++
			}
		}
	}
	roundRing := func(batch int) {
		r := ringFor(batch)
		for i := 0; i < len(fds); i += batch {
			chunk := fds[i:min(i+batch, len(fds))]
			for j, fd := range chunk {
				r.Prepare(j, uint64(j), fd, frame, nil)
			}
			got := 0
			err := r.Run(len(chunk), func(_ uint64, res int32) {
				got++
				if res != int32(len(frame)) {
					bad++
				}
			})
			if err != nil {
				panic(err)
			}
			if got != len(chunk) {
				panic(fmt.Sprint("reaped ", got, " of ", len(chunk)))
			}
		}
	}
	modes := []struct {
		name string
		f    func()
	}{
		{"write", roundWrite},
		{"uring16", func() { roundRing(16) }},
		{"uring64", func() { roundRing(64) }},
		{"uring256", func() { roundRing(256) }},
	}
	if len(os.Args) > 1 && os.Args[1] == "check" {
		nowaitCheck(fds[0], ringFor(16))
		return
	}
	results := map[string][]float64{}
	readerRes := map[string][]float64{}
	for rep := 0; rep < reps; rep++ {
		for _, m := range modes {
			rounds := rate * secs
			tick := time.NewTicker(time.Second / time.Duration(rate))
			c0, r0 := cpu(), childCPU()
			for k := 0; k < rounds; k++ {
				<-tick.C
				m.f()
			}
			tick.Stop()
			time.Sleep(50 * time.Millisecond) // let the reader drain
			c1, r1 := cpu(), childCPU()
			d := float64(rounds * n)
			us := float64((c1 - c0).Nanoseconds()) / d / 1000
			rus := float64((r1 - r0).Nanoseconds()) / d / 1000
			results[m.name] = append(results[m.name], us)
			readerRes[m.name] = append(readerRes[m.name], rus)
			fmt.Printf("rep %d %-9s writer %.3f µs/delivery  reader %.3f µs/delivery\n", rep, m.name, us, rus)
		}
	}
	fmt.Println("bad writes:", bad)
	for _, m := range modes {
		fmt.Printf("%-9s writer median %.3f %v  reader median %.3f\n", m.name, median(results[m.name]), results[m.name], median(readerRes[m.name]))
	}
	childIn.Close()
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

// nowaitCheck fills one socket and checks that a send and a writev
// through the ring complete with -EAGAIN at once rather than being parked
// by the kernel (the engine's writers rely on it; internal/uring's
// TestSendRing checks it too).
func nowaitCheck(fd int, r *uring.SendRing) {
	big := make([]byte, 1<<20)
	for {
		_, _, errno := syscall.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&big[0])), uintptr(len(big)))
		if errno != 0 {
			fmt.Println("write filled:", errno)
			break
		}
	}
	iov := []unix.Iovec{{Base: &big[0]}}
	iov[0].SetLen(100)
	for _, op := range []struct {
		name string
		iov  []unix.Iovec
	}{{"send", nil}, {"writev", iov}} {
		r.Prepare(0, 0, fd, big[:100], op.iov)
		start := time.Now()
		err := r.Run(1, func(_ uint64, res int32) {
			fmt.Println(op.name, "res", res, syscall.Errno(-res), time.Since(start))
		})
		if err != nil {
			fmt.Println(op.name, err)
		}
	}
}
