package gateway_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/catalog-org/catalog/gateway"
	"github.com/catalog-org/catalog/testenv"
)

// lockedBuffer is a bytes.Buffer safe for a writer and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestBufferedLog: lines reach the writer within the interval, and on
// Close whatever the interval had not written yet.
func TestBufferedLog(t *testing.T) {
	var out lockedBuffer
	l := gateway.NewBufferedLog(&out, 1<<10, 20*time.Millisecond)
	_, _ = l.Write([]byte("one\n"))
	testenv.Eventually(t, 5*time.Second, func() error {
		if out.String() != "one\n" {
			return errString(out.String())
		}
		return nil
	})
	slow := gateway.NewBufferedLog(&out, 1<<10, time.Hour)
	_, _ = slow.Write([]byte("two\n"))
	if err := slow.Close(); err != nil || out.String() != "one\ntwo\n" {
		t.Fatalf("after Close: %q (%v)", out.String(), err)
	}
	_ = l.Close()
}

type errString string

func (e errString) Error() string { return "written so far: " + string(e) }
