package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// checkPages reads the page tree of the bbolt file f with plain reads,
// trusting nothing in it, and reports the first thing that would make
// bbolt panic, fault or loop: a meta page that does not validate, a page
// beyond the file or the high-water mark, a page that is not what its
// parent says, a page reached twice (or a cycle), an element beyond its
// page, keys out of order. bbolt checks none of this before it follows a
// page id through its memory map, and reports some of it from a goroutine
// of its own, where no recover can reach (bbolt v1.4, Open's free-page
// scan): so herd checks first.
//
// The layout read here is bbolt's file format, version 2, in the byte
// order of the machine (bbolt writes its structs as they are in memory).
func checkPages(f *os.File, size int64) error {
	m, err := readMeta(f)
	if err != nil {
		return err
	}
	if need := int64(m.pgid) * int64(m.pageSize); need > size {
		return fmt.Errorf("truncated: %d bytes, its records need %d", size, need)
	}
	w := &pageWalk{f: f, pageSize: int64(m.pageSize), hwm: m.pgid, seen: map[uint64]bool{0: true, 1: true}}
	if m.freelist != noFreelist {
		if err := w.freelist(m.freelist); err != nil {
			return err
		}
	}
	_, err = w.tree(m.root, nil, nil)
	return err
}

const (
	magic      = 0xED0CDAED
	version    = 2
	noFreelist = ^uint64(0)

	pageHeader  = 16 // id u64, flags u16, count u16, overflow u32
	elementSize = 16 // branch: pos u32, ksize u32, pgid u64; leaf: flags u32, pos u32, ksize u32, vsize u32
	bucketSize  = 16 // root u64, sequence u64

	branchPage   = 0x01
	leafPage     = 0x02
	freelistPage = 0x10
	bucketLeaf   = 0x01
)

var order = binary.NativeEndian

type meta struct {
	pageSize                  uint32
	root, freelist, pgid, txn uint64
}

// readMeta reads the meta page bbolt would use: of the two, the valid one
// with the higher transaction id.
func readMeta(f *os.File) (meta, error) {
	var metas []meta
	first, err0 := readMetaAt(f, 0)
	if err0 == nil {
		metas = append(metas, first)
	}
	sizes := []int64{4096, 8192, 16384, 32768, 65536}
	if err0 == nil {
		sizes = []int64{int64(first.pageSize)}
	}
	for _, ps := range sizes {
		if second, err := readMetaAt(f, ps); err == nil && int64(second.pageSize) == ps {
			metas = append(metas, second)
			break
		}
	}
	switch {
	case len(metas) == 0:
		return meta{}, fmt.Errorf("not a bbolt file, or both its headers are overwritten (%v)", err0)
	case len(metas) == 2 && metas[1].txn > metas[0].txn:
		return metas[1], nil
	}
	return metas[0], nil
}

func readMetaAt(f *os.File, off int64) (meta, error) {
	var b [80]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return meta{}, err
	}
	body := b[pageHeader:]
	switch {
	case order.Uint32(body[0:]) != magic:
		return meta{}, errors.New("no bbolt magic number")
	case order.Uint32(body[4:]) != version:
		return meta{}, fmt.Errorf("bbolt format version %d, not %d", order.Uint32(body[4:]), version)
	}
	h := fnv.New64a()
	h.Write(body[:56])
	if h.Sum64() != order.Uint64(body[56:]) {
		return meta{}, errors.New("header checksum does not match")
	}
	m := meta{pageSize: order.Uint32(body[8:]), root: order.Uint64(body[16:]), freelist: order.Uint64(body[32:]),
		pgid: order.Uint64(body[40:]), txn: order.Uint64(body[48:])}
	if m.pageSize < 1024 || m.pageSize > 1<<20 || m.pageSize&(m.pageSize-1) != 0 {
		return meta{}, fmt.Errorf("page size %d", m.pageSize)
	}
	return m, nil
}

type pageWalk struct {
	f        *os.File
	pageSize int64
	hwm      uint64 // pages in use: ids below it
	seen     map[uint64]bool
}

// page reads page id (with its overflow pages), marking each as seen.
func (w *pageWalk) page(id uint64) (flags uint16, count int, data []byte, err error) {
	if id < 2 || id >= w.hwm {
		return 0, 0, nil, fmt.Errorf("page %d is beyond the pages in use (%d)", id, w.hwm)
	}
	var h [pageHeader]byte
	if _, err := w.f.ReadAt(h[:], int64(id)*w.pageSize); err != nil {
		return 0, 0, nil, fmt.Errorf("page %d: %w", id, err)
	}
	if got := order.Uint64(h[0:]); got != id {
		return 0, 0, nil, fmt.Errorf("page %d claims to be page %d", id, got)
	}
	flags, count, overflow := order.Uint16(h[8:]), int(order.Uint16(h[10:])), uint64(order.Uint32(h[12:]))
	if id+overflow >= w.hwm {
		return 0, 0, nil, fmt.Errorf("page %d runs beyond the pages in use", id)
	}
	for i := id; i <= id+overflow; i++ {
		if w.seen[i] {
			return 0, 0, nil, fmt.Errorf("page %d is reached twice", i)
		}
		w.seen[i] = true
	}
	data = make([]byte, int64(overflow+1)*w.pageSize)
	if _, err := w.f.ReadAt(data, int64(id)*w.pageSize); err != nil && !errors.Is(err, io.EOF) {
		return 0, 0, nil, fmt.Errorf("page %d: %w", id, err)
	}
	return flags, count, data, nil
}

// freelist checks the free-list page and the ids it lists.
func (w *pageWalk) freelist(id uint64) error {
	flags, count, data, err := w.page(id)
	if err != nil {
		return fmt.Errorf("free list: %w", err)
	}
	if flags != freelistPage {
		return fmt.Errorf("free list: page %d is not one", id)
	}
	ids := data[pageHeader:]
	if count == 0xFFFF { // the real count is the first element
		if len(ids) < 8 {
			return errors.New("free list: cut short")
		}
		count, ids = int(min(order.Uint64(ids), w.hwm+1)), ids[8:]
	}
	if count*8 > len(ids) {
		return errors.New("free list: more ids than its page holds")
	}
	for i := range count {
		if free := order.Uint64(ids[i*8:]); free < 2 || free >= w.hwm {
			return fmt.Errorf("free list: page %d is beyond the pages in use", free)
		}
	}
	return nil
}

// tree walks the tree rooted at page id, whose keys must lie in [lo, hi)
// (nil: unbounded), and returns its largest key.
func (w *pageWalk) tree(id uint64, lo, hi []byte) ([]byte, error) {
	flags, count, data, err := w.page(id)
	if err != nil {
		return nil, err
	}
	switch flags {
	case branchPage, leafPage:
	default:
		return nil, fmt.Errorf("page %d is not a tree page (type %#x)", id, flags)
	}
	return w.elements(fmt.Sprintf("page %d", id), flags, count, data, lo, hi)
}

// elements checks the elements of a page held in data (a page of the file,
// or a bucket inlined in a value), recursing into children and buckets,
// and returns its largest key. Keys must increase, lie in [lo, hi), and a
// branch's key must be above every key of the child before it: the order
// bbolt's own check wants.
func (w *pageWalk) elements(where string, flags uint16, count int, data []byte, lo, hi []byte) ([]byte, error) {
	if pageHeader+count*elementSize > len(data) {
		return nil, fmt.Errorf("%s: %d elements do not fit", where, count)
	}
	keys := make([][]byte, count)
	for i := range keys {
		e := uint64(pageHeader + i*elementSize)
		var pos, ksize, vsize uint64
		if flags == branchPage {
			pos, ksize = uint64(order.Uint32(data[e:])), uint64(order.Uint32(data[e+4:]))
		} else {
			pos, ksize, vsize = uint64(order.Uint32(data[e+4:])), uint64(order.Uint32(data[e+8:])), uint64(order.Uint32(data[e+12:]))
		}
		if e+pos+ksize+vsize > uint64(len(data)) {
			return nil, fmt.Errorf("%s: element %d lies beyond its page", where, i)
		}
		keys[i] = data[e+pos : e+pos+ksize]
		if flags == leafPage && order.Uint32(data[e:])&bucketLeaf != 0 {
			if err := w.bucket(fmt.Sprintf("%s: bucket %q", where, keys[i]), data[e+pos+ksize:e+pos+ksize+vsize]); err != nil {
				return nil, err
			}
		}
	}
	largest := lo
	for i, key := range keys {
		if (i == 0 && largest != nil && bytes.Compare(largest, key) > 0) || (i > 0 && bytes.Compare(largest, key) >= 0) ||
			(hi != nil && bytes.Compare(key, hi) >= 0) {
			return nil, fmt.Errorf("%s: keys out of order", where)
		}
		if flags == leafPage {
			largest = key
			continue
		}
		next := hi
		if i+1 < count {
			next = keys[i+1]
		}
		var err error
		if largest, err = w.tree(order.Uint64(data[pageHeader+i*elementSize+8:]), key, next); err != nil {
			return nil, err
		}
	}
	return largest, nil
}

// bucket checks a bucket's value: its root page, or its inline page.
func (w *pageWalk) bucket(where string, value []byte) error {
	if len(value) < bucketSize {
		return fmt.Errorf("%s: its header is cut short", where)
	}
	if root := order.Uint64(value); root != 0 {
		_, err := w.tree(root, nil, nil)
		return err
	}
	inline := value[bucketSize:]
	if len(inline) < pageHeader {
		return fmt.Errorf("%s: its inline page is cut short", where)
	}
	if flags := order.Uint16(inline[8:]); flags != leafPage {
		return fmt.Errorf("%s: its inline page is not a leaf (type %#x)", where, flags)
	}
	_, err := w.elements(where, leafPage, int(order.Uint16(inline[10:])), inline, nil, nil)
	return err
}
