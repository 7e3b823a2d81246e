//go:build !unix

package extauthz

import (
	"testing"
	"time"
)

// reportCPU reports nothing where the process CPU time is not at hand.
func reportCPU(*testing.B, time.Duration) {}

func cpuNow() time.Duration { return 0 }
