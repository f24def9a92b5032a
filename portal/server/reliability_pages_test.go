package server_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"tzportal/portal/testkit"
)

// TestConcurrentPagesNeverMix: two applicants load their own case pages
// a thousand times, a hundred at once. Each page must be whole and show only its owner's
// case: a response never carries bytes of another request's page.
func TestConcurrentPagesNeverMix(t *testing.T) {
	t.Parallel()
	j := newJourney(t, testkit.Backend{})
	own := map[*testkit.Client]string{
		j.alice: j.create(t, j.alice, testkit.ResidenceForm()),
		j.bob:   j.create(t, j.bob, testkit.ResidenceForm("address", "海陵区鼓楼南路9号")),
	}
	other := map[*testkit.Client]string{j.alice: own[j.bob], j.bob: own[j.alice]}
	var mu sync.Mutex
	const pages = 1000
	var mixed []string
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for i := 0; i < pages; i++ {
		c := j.alice
		if i%2 == 1 {
			c = j.bob
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.Get("/cases/" + own[c])
			body := r.Text()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case r.Status != http.StatusOK:
				statuses[r.Status]++ // not what this test is about, but reported
			case !strings.Contains(body, own[c]) || strings.Contains(body, other[c]) ||
				!strings.HasSuffix(strings.TrimSpace(body), "</html>"):
				mixed = append(mixed, body)
			}
		}()
		if i%100 == 99 {
			wg.Wait()
		}
	}
	wg.Wait()
	if len(mixed) > 0 {
		t.Errorf("%d of %d concurrent case pages were not their owner's whole page (another request's bytes); first:\n%.3000s", len(mixed), pages, mixed[0])
	}
	if len(statuses) > 0 {
		t.Errorf("case pages that were not 200: %v", statuses)
	}
}
