package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// Defaults of the body budget (Config.BodyBudget, Config.BodyWait).
const (
	// DefaultBodyBudget is the bytes of delivery bodies read and parsed at
	// once: six of the largest deliveries (MaxBodyBytes), or thousands of
	// typical ones (a few KiB to a few hundred KiB).
	DefaultBodyBudget = 6 * MaxBodyBytes
	// DefaultBodyWait is how long a delivery waits for room in the budget
	// before it is refused with ErrBusy.
	DefaultBodyWait = 2 * time.Second
)

// ErrBusy reports that the bytes of deliveries being read and parsed at once
// reached the body budget and no room freed up within the wait: nothing was
// read and nothing changed. The HTTP API answers 503 with Retry-After.
var ErrBusy = errors.New("ingest is reading as many delivery bytes as it may at once")

// errReading wraps a failure to read a delivery (the client went away, or
// sent more bytes than announced).
var errReading = errors.New("reading the delivery")

// TooLargeError reports a delivery larger than MaxBodyBytes; nothing changed.
type TooLargeError struct {
	// Size is the delivery's size in bytes, or MaxBodyBytes+1 when only
	// "more than the limit" is known.
	Size int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("a delivery may be at most %d bytes (10 MiB); this one has %d or more", MaxBodyBytes, e.Size)
}

// bodyBudget holds the bytes of the bodies being read and parsed.
type bodyBudget struct {
	sem  *semaphore.Weighted
	wait time.Duration
	held atomic.Int64
}

// acquire takes n bytes of the budget, waiting at most b.wait.
func (b *bodyBudget) acquire(ctx context.Context, n int64) error {
	wctx, cancel := context.WithTimeout(ctx, b.wait)
	defer cancel()
	if err := b.sem.Acquire(wctx, n); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return ErrBusy
	}
	b.held.Add(n)
	return nil
}

func (b *bodyBudget) release(n int64) {
	b.held.Add(-n)
	b.sem.Release(n)
}

// BodyBytesInFlight returns the bytes of the body budget held now by
// deliveries being read and parsed.
func (s *Service) BodyBytesInFlight() int64 { return s.budget.held.Load() }

// ReadDelivery reads one delivery in format f from r and parses it, holding
// its share of the body budget (Config.BodyBudget) while it does: size
// bytes when the size is known (a Content-Length, a file's size; -1 if
// not), else MaxBodyBytes. It waits at most Config.BodyWait for room and
// then returns ErrBusy. A delivery over MaxBodyBytes is a *TooLargeError,
// refused unread when its size is known; a parse problem is a
// *release.ValidationError. It changes nothing: Submit applies the result.
func (s *Service) ReadDelivery(ctx context.Context, f Format, r io.Reader, size int64) (Delivery, error) {
	if size > MaxBodyBytes {
		return Delivery{}, &TooLargeError{Size: size}
	}
	weight := size
	if size < 0 {
		weight = MaxBodyBytes
	}
	weight = max(weight, 1)
	if err := s.budget.acquire(ctx, weight); err != nil {
		return Delivery{}, err
	}
	defer s.budget.release(weight)
	var data []byte
	if size >= 0 {
		// One byte more than announced tells a body that is longer.
		data = make([]byte, size+1)
		n, err := io.ReadFull(r, data)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return Delivery{}, fmt.Errorf("%w: %w", errReading, err)
		}
		if int64(n) > size {
			return Delivery{}, fmt.Errorf("%w: more than the %d bytes announced", errReading, size)
		}
		data = data[:n]
	} else {
		var err error
		if data, err = io.ReadAll(io.LimitReader(r, MaxBodyBytes+1)); err != nil {
			return Delivery{}, fmt.Errorf("%w: %w", errReading, err)
		}
		if len(data) > MaxBodyBytes {
			return Delivery{}, &TooLargeError{Size: MaxBodyBytes + 1}
		}
	}
	return Parse(f, data)
}
