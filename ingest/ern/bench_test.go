package ern_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/catalog-org/catalog/ingest/ern"
	"github.com/catalog-org/catalog/ingest/gen"
)

// generated returns the ERN 4.3 forms of the first deliveries of a
// generated catalogue, smallest first.
func generated(tb testing.TB, n int) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, d := range gen.Catalogue(42, n, gen.DefaultReuse) {
		var buf bytes.Buffer
		if err := gen.ERN43(&buf, d); err != nil {
			tb.Fatal(err)
		}
		out = append(out, buf.Bytes())
	}
	slices.SortStableFunc(out, func(a, b []byte) int { return len(a) - len(b) })
	return out
}

// BenchmarkParse parses generated deliveries of three sizes (the smallest,
// median and largest of 200 generated releases) and every public sample.
// SetBytes makes the MB/s column comparable across sizes.
func BenchmarkParse(b *testing.B) {
	docs := generated(b, 200)
	cases := []struct {
		name string
		data []byte
	}{
		{"gen/small", docs[0]},
		{"gen/median", docs[len(docs)/2]},
		{"gen/large", docs[len(docs)-1]},
	}
	if names, err := os.ReadDir(samplesDir); err == nil {
		for _, e := range names {
			if filepath.Ext(e.Name()) != ".xml" {
				continue
			}
			data, err := os.ReadFile(filepath.Join(samplesDir, e.Name()))
			if err != nil {
				b.Fatal(err)
			}
			cases = append(cases, struct {
				name string
				data []byte
			}{"sample/" + e.Name(), data})
		}
	}
	for _, c := range cases {
		b.Run(fmt.Sprintf("%s/%dKB", c.name, len(c.data)/1024), func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ern.Parse(c.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
