package api_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentAnswersKeepTheirBodies: track answers render into lent
// buffers; concurrent requests for different tracks, in both formats, each
// get their own track's complete body, byte for byte the answer a lone
// request gets.
func TestConcurrentAnswersKeepTheirBodies(t *testing.T) {
	t.Parallel()
	f := newFakeCatalogue()
	const tracks = 8
	for i := int64(1); i <= tracks; i++ {
		s := fixtureStored()
		s.track.ID = i
		s.track.Title = fmt.Sprintf("Title of track %d %s", i, strings.Repeat("x", int(i)*300))
		f.put(s)
	}
	h := newServer(t, f)
	want := map[string]string{}
	target := func(id int, json bool) string {
		return fmt.Sprintf("/1.2/track/details?trackId=%d&country=GB&json=%v", id, json)
	}
	for id := 1; id <= tracks; id++ {
		for _, json := range []bool{false, true} {
			accept := []string{}
			if json {
				accept = []string{"Accept", "application/json"}
			}
			rec := get(t, h, target(id, json), accept...)
			if rec.Code != 200 {
				t.Fatalf("track %d: status %d: %s", id, rec.Code, rec.Body)
			}
			want[target(id, json)] = rec.Body.String()
		}
	}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				id, json := 1+(w+i)%tracks, (w+i)%3 == 0
				accept := []string{}
				if json {
					accept = []string{"Accept", "application/json"}
				}
				rec := get(t, h, target(id, json), accept...)
				if got := rec.Body.String(); got != want[target(id, json)] {
					t.Errorf("track %d (json %v): a body other than its own:\n%s", id, json, got)
					return
				}
			}
		}()
	}
	wg.Wait()
}
