package warehouse

import (
	"math/bits"
	"sync"
)

// poolAllocator is an Arrow memory.Allocator that recycles the buffers of
// released record batches by power-of-two size class, so a scan of any
// length reuses a few batches' worth of memory instead of making garbage.
type poolAllocator struct {
	classes [40]sync.Pool
}

func sizeClass(n int) int {
	if n <= 64 {
		return 6
	}
	return bits.Len(uint(n - 1))
}

func (a *poolAllocator) Allocate(size int) []byte {
	c := sizeClass(size)
	if b, ok := a.classes[c].Get().(*[]byte); ok {
		buf := (*b)[:size]
		clear(buf)
		return buf
	}
	return make([]byte, size, 1<<c)
}

func (a *poolAllocator) Reallocate(size int, b []byte) []byte {
	if size <= cap(b) {
		old := len(b)
		b = b[:size]
		if size > old {
			clear(b[old:])
		}
		return b
	}
	nb := a.Allocate(size)
	copy(nb, b)
	a.Free(b)
	return nb
}

func (a *poolAllocator) Free(b []byte) {
	c := cap(b)
	if c < 64 || c&(c-1) != 0 {
		return // not one of ours
	}
	b = b[:c]
	a.classes[bits.Len(uint(c))-1].Put(&b)
}
