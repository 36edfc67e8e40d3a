package ingest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/catalog-org/catalog/domain/release"
)

// FolderConfig configures IngestPaths.
type FolderConfig struct {
	// Workers is the number of deliveries processed at once (default 1).
	Workers int
	// Report, if set, is called once per delivery file, as it is done, one
	// call at a time.
	Report func(FileOutcome)
	// Override applies every delivery as an operator override, whoever
	// owns its release (Draft.Override).
	Override bool
}

// FileOutcome is what became of one delivery file: Status is accepted,
// unchanged, stale, rejected or failed; Reason says why when it was not
// accepted (a rejection names the message, clipped, and every problem).
type FileOutcome struct {
	Path   string
	Status string
	Reason string
}

// FolderSummary counts the outcomes of IngestPaths by status.
type FolderSummary struct {
	Total  int
	Counts map[string]int
}

// isDelivery reports whether a file name is a delivery: .xml (DDEX ERN) or
// .json (catalog JSON), in any case.
func isDelivery(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".xml" || ext == ".json"
}

// walk calls fn with every delivery file under paths: folders recursively,
// in name order within each folder. It holds one folder's names at a time,
// never the list of all files.
func walk(paths []string, fn func(path string, size int64) error) error {
	for _, p := range paths {
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !isDelivery(path) {
				return nil
			}
			size := int64(-1)
			if info, err := d.Info(); err == nil {
				size = info.Size()
			}
			return fn(path, size)
		})
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
	}
	return nil
}

// CountFiles returns the number of delivery files IngestPaths would take
// from paths (for a progress bar), holding no list of them.
func CountFiles(paths []string) (int, error) {
	n := 0
	err := walk(paths, func(string, int64) error { n++; return nil })
	return n, err
}

// IngestPaths ingests every .xml and .json file under paths, in the order
// of walk, cfg.Workers at a time. It streams: memory holds the folder
// being listed and the deliveries in flight (within the body budget), not
// one entry per file, however many files there are. Each file is read
// through ReadDelivery and applied with Submit; its outcome goes to
// cfg.Report. When ctx ends, no further file is started; the summary
// counts what was done and the error is ctx's.
func (s *Service) IngestPaths(ctx context.Context, paths []string, cfg FolderConfig) (FolderSummary, error) {
	workers := max(cfg.Workers, 1)
	sum := FolderSummary{Counts: map[string]int{}}
	var mu sync.Mutex
	type file struct {
		path string
		size int64
	}
	files := make(chan file)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range files {
				o := s.ingestFile(ctx, f.path, f.size, cfg.Override)
				mu.Lock()
				sum.Total++
				sum.Counts[o.Status]++
				if cfg.Report != nil {
					cfg.Report(o)
				}
				mu.Unlock()
			}
		}()
	}
	errStop := errors.New("stopped")
	err := walk(paths, func(path string, size int64) error {
		select {
		case files <- file{path, size}:
			return nil
		case <-ctx.Done():
			return errStop
		}
	})
	close(files)
	wg.Wait()
	if ctx.Err() != nil {
		return sum, ctx.Err()
	}
	return sum, err
}

// ingestFile reads, parses and applies one delivery file.
func (s *Service) ingestFile(ctx context.Context, path string, size int64, override bool) FileOutcome {
	o := FileOutcome{Path: path, Status: "failed"}
	format := FormatERN
	if strings.EqualFold(filepath.Ext(path), ".json") {
		format = FormatJSON
	}
	f, err := os.Open(path)
	if err != nil {
		o.Reason = err.Error()
		return o
	}
	d, err := s.ReadDelivery(ctx, format, f, size)
	_ = f.Close()
	if err == nil {
		d.Override = override
		var res Result
		if res, err = s.Submit(ctx, d); err == nil {
			o.Status, o.Reason = res.Status, res.Reason
			return o
		}
	}
	var big *TooLargeError
	if errors.As(err, &big) {
		o.Status, o.Reason = "rejected", big.Error()
		return o
	}
	if v, ok := release.IsValidationError(err); ok {
		o.Status = "rejected"
		var parts []string
		for _, p := range v.Problems {
			parts = append(parts, p.Field+": "+p.Reason)
		}
		name := release.Clip(v.Message.Name())
		if name == "" {
			name = "(no message id)"
		}
		o.Reason = "message " + name + ": " + strings.Join(parts, "; ")
		return o
	}
	if oe := (*release.OwnershipError)(nil); errors.As(err, &oe) {
		o.Status, o.Reason = "rejected", oe.Error()
		return o
	}
	o.Reason = err.Error()
	return o
}
