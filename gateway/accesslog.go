package gateway

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// BufferedLog gathers the access log's lines into few writes: one write
// (a system call) per request costs the gateway more than the line does.
// What it holds is written when its buffer fills, every interval, and on
// Close; a process that crashes loses at most one interval of lines. It
// is written by hand because bufio.Writer has neither the lock nor the
// periodic flush.
type BufferedLog struct {
	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// NewBufferedLog buffers up to size bytes for w, written at least every
// interval.
func NewBufferedLog(w io.Writer, size int, interval time.Duration) *BufferedLog {
	b := &BufferedLog{w: bufio.NewWriterSize(w, size), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				_ = b.Flush()
			}
		}
	}()
	return b
}

// Write implements io.Writer.
func (b *BufferedLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

// Flush writes what the buffer holds.
func (b *BufferedLog) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Flush()
}

// Close stops the periodic writes and writes what is left.
func (b *BufferedLog) Close() error {
	b.once.Do(func() { close(b.stop) })
	<-b.done
	return b.Flush()
}
