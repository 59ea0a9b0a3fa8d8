//go:build linux

package main

// A minimal io_uring for the measurement (the hub has its own, in
// hub/uring_linux.go, unexported).

import (
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqringOffsets
	cqOff                                                                  cqringOffsets
}

type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	opFlags     uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFdIn  int32
	addr3       uint64
	pad2        uint64
}

type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

const (
	opWritev = 2
	opSend   = 26
	opWrite  = 23

	setupClamp     = 1 << 4
	setupSubmitAll = 1 << 7
	setupCoop      = 1 << 8
	setupSingle    = 1 << 12
	setupDefer     = 1 << 13

	enterGetEvents = 1
	featSingleMmap = 1

	offSQRing = 0
	offCQRing = 0x8000000
	offSQEs   = 0x10000000

	rwfNowait = 8
)

type ring struct {
	fd      int
	mem     []byte
	cqmem   []byte
	sqesMem []byte
	sqHead  *uint32
	sqTail  *uint32
	sqMask  uint32
	sqArray []uint32
	sqes    []sqe
	cqHead  *uint32
	cqTail  *uint32
	cqMask  uint32
	cqes    []cqe
	entries uint32
}

func newRing(entries uint32, flags uint32) (*ring, error) {
	var p params
	p.flags = flags
	fd, _, errno := syscall.RawSyscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, errno
	}
	r := &ring{fd: int(fd), entries: p.sqEntries}
	sqSize := p.sqOff.array + p.sqEntries*4
	cqSize := p.cqOff.cqes + p.cqEntries*uint32(unsafe.Sizeof(cqe{}))
	single := p.features&featSingleMmap != 0
	if single && cqSize > sqSize {
		sqSize = cqSize
	}
	var err error
	r.mem, err = unix.Mmap(r.fd, offSQRing, int(sqSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		unix.Close(r.fd)
		return nil, err
	}
	r.cqmem = r.mem
	if !single {
		r.cqmem, err = unix.Mmap(r.fd, offCQRing, int(cqSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return nil, err
		}
	}
	r.sqesMem, err = unix.Mmap(r.fd, offSQEs, int(p.sqEntries)*64, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, err
	}
	r.sqHead = (*uint32)(unsafe.Pointer(&r.mem[p.sqOff.head]))
	r.sqTail = (*uint32)(unsafe.Pointer(&r.mem[p.sqOff.tail]))
	r.sqMask = *(*uint32)(unsafe.Pointer(&r.mem[p.sqOff.ringMask]))
	r.sqArray = unsafe.Slice((*uint32)(unsafe.Pointer(&r.mem[p.sqOff.array])), p.sqEntries)
	for i := range r.sqArray {
		r.sqArray[i] = uint32(i)
	}
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&r.sqesMem[0])), p.sqEntries)
	r.cqHead = (*uint32)(unsafe.Pointer(&r.cqmem[p.cqOff.head]))
	r.cqTail = (*uint32)(unsafe.Pointer(&r.cqmem[p.cqOff.tail]))
	r.cqMask = *(*uint32)(unsafe.Pointer(&r.cqmem[p.cqOff.ringMask]))
	r.cqes = unsafe.Slice((*cqe)(unsafe.Pointer(&r.cqmem[p.cqOff.cqes])), p.cqEntries)
	return r, nil
}

// next returns the SQE at the tail (caller guarantees room).
func (r *ring) sqeAt(i uint32) *sqe {
	tail := atomic.LoadUint32(r.sqTail)
	return &r.sqes[(tail+i)&r.sqMask]
}

// submit publishes n SQEs and waits for n completions.
func (r *ring) submitAndWait(n uint32) (int, error) {
	atomic.StoreUint32(r.sqTail, atomic.LoadUint32(r.sqTail)+n)
	for {
		k, _, errno := syscall.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(n), uintptr(n), enterGetEvents, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return int(k), errno
		}
		return int(k), nil
	}
}

func (r *ring) reap(f func(c *cqe)) int {
	head := atomic.LoadUint32(r.cqHead)
	tail := atomic.LoadUint32(r.cqTail)
	n := 0
	for ; head != tail; head++ {
		f(&r.cqes[head&r.cqMask])
		n++
	}
	atomic.StoreUint32(r.cqHead, head)
	return n
}
