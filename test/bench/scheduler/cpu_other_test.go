//go:build !unix

package scheduler

import "time"

// processCPU is not measured here; the cpu metric reads 0.
func processCPU() time.Duration { return 0 }
