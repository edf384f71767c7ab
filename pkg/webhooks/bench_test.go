package webhooks_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	ut "github.com/carve-dev/carve/pkg/util/testing"
	"github.com/carve-dev/carve/pkg/webhooks"
)

// BenchmarkPodMutateHandler is the CPU cost of one pod review in the
// handler alone (no TLS, no network): the part of the webhook's latency
// that carve's own code decides.
func BenchmarkPodMutateHandler(b *testing.B) {
	h := handlers(b)[webhooks.PathPodMutate]
	body := string(Review(b, ut.MakePod("nb", "alice").Container("main", "", "").Container("side", "100m", "").Obj()))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, webhooks.PathPodMutate, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
