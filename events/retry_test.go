package events

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestRetryStopsWhenContextEnds: a call the broker keeps asking to repeat is
// retried with backoff until the context ends, then returns the context's
// error and the last attempt's, well before its own limit.
func TestRetryStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	errBusy := errors.New("leader moving")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	tries := 0
	err := retry(ctx, time.Minute, func() (bool, error) { tries++; return false, errBusy })
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errBusy) {
		t.Fatalf("err = %v, want the context's error and the last attempt's", err)
	}
	if took > 2*time.Second {
		t.Fatalf("retry returned %s after the context ended", took)
	}
	// 50 ms, 100 ms, 200 ms: the pauses double.
	if tries < 3 || tries > 5 {
		t.Fatalf("%d attempts in %s, want 3 to 5 with a doubling backoff from 50 ms", tries, took)
	}
	tries = 0
	if err := retry(context.Background(), time.Minute, func() (bool, error) { tries++; return tries == 2, nil }); err != nil || tries != 2 {
		t.Fatalf("retry until done: %v after %d attempts", err, tries)
	}
}
