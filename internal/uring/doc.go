// Package uring is the smallest io_uring herd needs: a ring through which
// one goroutine hands the kernel a batch of non-blocking socket writes in
// one system call, and gets every result back in the same call (see
// SendRing). The connection engine's writers use it for a fan-out's
// writes; scripts/uringbench measures what it saves.
//
// It exists on Linux only; on other systems the package is empty and
// nothing imports it. It uses no cgo: the rings are mapped with mmap and
// driven with raw system calls.
package uring
