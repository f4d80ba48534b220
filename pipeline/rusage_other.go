//go:build !unix

package pipeline

import "time"

// processUsage is not measured on this system.
func processUsage() (time.Duration, int64) { return 0, 0 }
