package features

import (
	"syscall"
	"unsafe"
)

// adviseHugePages asks the kernel to back the whole 2 MiB pages of a large,
// not yet touched slice with huge pages (see MakeCustomers).
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
