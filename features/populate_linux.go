package features

import "syscall"

// madvPopulateWrite is MADV_POPULATE_WRITE (Linux 5.14); older kernels
// answer EINVAL and the pages fault in as they are written.
const madvPopulateWrite = 23

func populatePages(b []byte) { _ = syscall.Madvise(b, madvPopulateWrite) }
