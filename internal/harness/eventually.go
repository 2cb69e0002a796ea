package harness

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// ErrTimeout: a polled condition did not hold before its deadline.
var ErrTimeout = errors.New("harness: condition not met in time")

// Eventually polls cond until it returns nil, failing the test with cond's
// last error if timeout passes first. The polling interval starts at 5 ms
// and doubles up to 100 ms, so quick conditions are seen quickly and slow
// ones do not spin. Call it from the test's goroutine.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	if err := WaitFor(timeout, cond); err != nil {
		t.Fatal(err)
	}
}

// WaitFor is Eventually returning an error (wrapping ErrTimeout) instead
// of failing the test, for use on other goroutines.
func WaitFor(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	interval := 5 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w after %v: %w", ErrTimeout, timeout, err)
		}
		time.Sleep(interval) // polling interval, not synchronization
		interval = min(2*interval, 100*time.Millisecond)
	}
}
