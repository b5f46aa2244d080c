package notify

import (
	"testing"
	"time"
)

func TestBackoffDoublesUpToTheMaximumWithJitter(t *testing.T) {
	s := &Sender{cfg: SenderConfig{RetryInitial: time.Second, RetryMax: time.Minute}}
	for _, c := range []struct {
		attempts int
		base     time.Duration
	}{
		{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {6, 32 * time.Second},
		{7, time.Minute}, {8, time.Minute}, {1000, time.Minute},
	} {
		lo, hi := time.Duration(float64(c.base)*0.8), time.Duration(float64(c.base)*1.2)
		for range 50 {
			if d := s.backoff(c.attempts); d < lo || d > hi {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", c.attempts, d, lo, hi)
			}
		}
	}
}
