//go:build linux

package uring

import (
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A SendRing is an io_uring through which one goroutine hands the kernel
// many writes, to many sockets, in one system call: on loopback and in
// VMs, where every system call's entry is dear, a write(2) per subscriber
// per event was most of the hub's CPU per delivery (a microbenchmark of
// 2,000 loopback sockets, one 92-byte write each, 20 rounds a second: 6.7
// µs of the writer's CPU per write with write(2), 3.3 µs in batches of
// 64, scripts/uringbench).
//
// Every operation is non-blocking (MSG_DONTWAIT, RWF_NOWAIT): the kernel
// tries it once, inline, and completes it with what it wrote or with
// -EAGAIN, as write(2) on the non-blocking socket would; it never waits
// for the socket on the ring's behalf. Run waits for every completion, so
// the buffers an operation names need to live only until Run returns.
//
// A SendRing belongs to one goroutine and is not safe for concurrent
// use. It holds a file descriptor and two mappings until Close. No cgo: the rings are mapped with mmap and driven with raw system
// calls, as liburing would.
type SendRing struct {
	fd      int
	rings   []byte // the submission and completion rings (one mapping: IORING_FEAT_SINGLE_MMAP)
	sqeMem  []byte
	sqHead  *uint32 // the kernel's: what it consumed
	sqTail  *uint32 // ours: what we published
	sqMask  uint32
	sqes    []uringSQE
	cqHead  *uint32 // ours: what we reaped
	cqTail  *uint32 // the kernel's: what it completed
	cqMask  uint32
	cqes    []uringCQE
	entries uint32
}

// uringSQE is struct io_uring_sqe (64 bytes).
type uringSQE struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	opFlags     uint32 // msg_flags for SEND, rw_flags for WRITEV
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFdIn  int32
	addr3       uint64
	_           uint64
}

// uringCQE is struct io_uring_cqe (16 bytes, without IORING_SETUP_CQE32).
type uringCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

// uringParams is struct io_uring_params (120 bytes).
type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	_                                                                      [3]uint32
	sqOff                                                                  struct {
		head, tail, ringMask, ringEntries, flags, dropped, array, _ uint32
		_                                                           uint64
	}
	cqOff struct {
		head, tail, ringMask, ringEntries, overflow, cqes, flags, _ uint32
		_                                                           uint64
	}
}

const (
	uringOpWritev = 2
	uringOpSend   = 26

	uringSetupClamp     = 1 << 4
	uringSetupSubmitAll = 1 << 7 // a request that fails its preparation does not stop the rest
	uringSetupCoop      = 1 << 8 // no interrupt to run completion work: Run waits for it anyway

	uringEnterGetEvents = 1
	uringFeatSingleMmap = 1

	uringOffSQRing = 0
	uringOffSQEs   = 0x10000000

	rwfNowait = 8 // RWF_NOWAIT
)

// NewSendRing sets up a ring of (at least) entries submissions. It fails
// where io_uring is missing or refused (ENOSYS, EPERM: the
// kernel.io_uring_disabled sysctl, a seccomp filter; or a kernel without
// IORING_FEAT_SINGLE_MMAP, older than 5.4).
func NewSendRing(entries uint32) (*SendRing, error) {
	p := uringParams{flags: uringSetupClamp | uringSetupSubmitAll | uringSetupCoop}
	fd, _, errno := syscall.RawSyscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, errno
	}
	r := &SendRing{fd: int(fd), entries: p.sqEntries}
	if p.features&uringFeatSingleMmap == 0 {
		r.Close()
		return nil, unix.ENOSYS
	}
	size := max(p.sqOff.array+p.sqEntries*4, p.cqOff.cqes+p.cqEntries*uint32(unsafe.Sizeof(uringCQE{})))
	var err error
	if r.rings, err = unix.Mmap(r.fd, uringOffSQRing, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		r.Close()
		return nil, err
	}
	if r.sqeMem, err = unix.Mmap(r.fd, uringOffSQEs, int(p.sqEntries)*int(unsafe.Sizeof(uringSQE{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		r.Close()
		return nil, err
	}
	at := func(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&r.rings[off])) }
	r.sqHead, r.sqTail, r.sqMask = at(p.sqOff.head), at(p.sqOff.tail), *at(p.sqOff.ringMask)
	r.cqHead, r.cqTail, r.cqMask = at(p.cqOff.head), at(p.cqOff.tail), *at(p.cqOff.ringMask)
	// The submission queue's indirection, set once to the identity: the
	// i-th submission is always the i-th entry.
	array := unsafe.Slice(at(p.sqOff.array), p.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	r.sqes = unsafe.Slice((*uringSQE)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	r.cqes = unsafe.Slice((*uringCQE)(unsafe.Pointer(&r.rings[p.cqOff.cqes])), p.cqEntries)
	return r, nil
}

// Close releases the ring. No operation is in flight: Run waits for all.
func (r *SendRing) Close() {
	if r.sqeMem != nil {
		unix.Munmap(r.sqeMem)
	}
	if r.rings != nil {
		unix.Munmap(r.rings)
	}
	unix.Close(r.fd)
}

// Prepare fills the i-th submission of the next Run (i below the entries
// NewSendRing was given), which Run reports as tag: a send of b to fd if iov is nil, else a
// writev of iov. The memory they name must stay as it is until Run
// returns.
func (r *SendRing) Prepare(i int, tag uint64, fd int, b []byte, iov []unix.Iovec) {
	sqe := &r.sqes[(atomic.LoadUint32(r.sqTail)+uint32(i))&r.sqMask]
	if iov == nil {
		*sqe = uringSQE{opcode: uringOpSend, fd: int32(fd), addr: uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b)))),
			len: uint32(len(b)), opFlags: unix.MSG_DONTWAIT | unix.MSG_NOSIGNAL, userData: tag}
	} else {
		*sqe = uringSQE{opcode: uringOpWritev, fd: int32(fd), addr: uint64(uintptr(unsafe.Pointer(unsafe.SliceData(iov)))),
			len: uint32(len(iov)), opFlags: rwfNowait, userData: tag}
	}
}

// Run submits the n submissions Prepare filled, waits for all of them to
// complete, and calls done for each with its tag and its result (the
// bytes written, or -errno), in the order they completed. If the kernel
// refuses the ring itself (an error from io_uring_enter other than EINTR,
// EAGAIN or EBUSY, which mean "again"), Run returns that error after
// calling done for what completed: the operations it never took are
// withdrawn and get no call, and the ring must not be used again.
func (r *SendRing) Run(n int, done func(tag uint64, res int32)) error {
	tail := atomic.LoadUint32(r.sqTail) + uint32(n)
	atomic.StoreUint32(r.sqTail, tail)
	reaped := 0
	for reaped < n {
		unsubmitted := tail - atomic.LoadUint32(r.sqHead)
		waitFor := uint32(n - reaped)
		// Not raw, unlike writev's one write: a batch's sends take the
		// kernel a while (a hundred µs for 64 small loopback writes), and
		// meanwhile the runtime may give the P to other goroutines and
		// stop the world for the GC; the cost of telling it (entersyscall)
		// is shared by the batch.
		_, _, errno := syscall.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(unsubmitted), uintptr(waitFor), uringEnterGetEvents, 0, 0)
		reaped += r.reap(done)
		switch errno {
		case 0, unix.EINTR, unix.EAGAIN, unix.EBUSY:
		default:
			// Withdraw what the kernel did not take. (Nothing it took is
			// left in flight: a non-blocking send completes in the call.)
			atomic.StoreUint32(r.sqTail, atomic.LoadUint32(r.sqHead))
			return errno
		}
	}
	return nil
}

// reap calls done for each completion posted, and consumes them.
func (r *SendRing) reap(done func(tag uint64, res int32)) int {
	head := atomic.LoadUint32(r.cqHead)
	tail := atomic.LoadUint32(r.cqTail)
	n := 0
	for ; head != tail; head++ {
		c := &r.cqes[head&r.cqMask]
		done(c.userData, c.res)
		n++
	}
	atomic.StoreUint32(r.cqHead, head)
	return n
}
