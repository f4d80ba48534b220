package features

import (
	"syscall"
	"unsafe"
)

// adviseHugePages asks the kernel to back a large slice with 2 MiB pages
// (transparent huge pages are commonly "madvise" only): building millions
// of rows into fresh memory otherwise takes one page fault per 4 KiB, which
// on a virtual machine cost as much as building the rows.
func adviseHugePages[T any](s []T) {
	const huge = 2 << 20
	if len(s) == 0 {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), uintptr(len(s))*unsafe.Sizeof(s[0]))
	start := uintptr(unsafe.Pointer(&b[0]))
	lo, hi := (start+huge-1)&^(huge-1), (start+uintptr(len(b)))&^(huge-1)
	if hi <= lo {
		return
	}
	syscall.Madvise(b[lo-start:hi-start], 14) // MADV_HUGEPAGE
}
