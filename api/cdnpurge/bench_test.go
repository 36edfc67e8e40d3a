package cdnpurge_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/catalog-org/catalog/api/cdnpurge"
)

// BenchmarkCDNPurge measures how long a changed release stays stale in the
// local Varnish: for each of 200 changes (a release renamed), the time from
// producing the event until a request through Varnish shows the new title,
// with the projector, its Redis invalidations, the purger and varnishd all
// running on the real services. It reports the p50, p99 and max.
func BenchmarkCDNPurge(b *testing.B) {
	const changes = 200
	for b.Loop() {
		f := newFixture(b)
		f.startProjector(b)
		f.startPurger(b, f.endpoint(b, f.cdn), cdnpurge.Config{})
		const id, upc = 9, "5012345678931"
		track := int64(id*10 + 1)
		f.send(b, upc, delivered(id, upc, "Title 0"))
		showing(b, f.cdn, track, "Title 0", 30*time.Second)
		lat := make([]time.Duration, 0, changes)
		for i := 1; i <= changes; i++ {
			if _, cache := get(b, f.cdn, track); cache == "" {
				b.Fatal("no X-Cache from Varnish")
			}
			want := fmt.Sprintf("Title %d\"", i)
			start := time.Now()
			f.send(b, upc, renamed(id, upc, fmt.Sprintf("Title %d", i)))
			for {
				body, _ := get(b, f.cdn, track)
				if strings.Contains(body, want) {
					break
				}
				if time.Since(start) > 30*time.Second {
					b.Fatalf("change %d not shown through Varnish after 30 s", i)
				}
				time.Sleep(2 * time.Millisecond)
			}
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100-1].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	}
}
