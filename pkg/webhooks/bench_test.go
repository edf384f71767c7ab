package webhooks_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/carve-dev/carve/pkg/controller"
	"github.com/carve-dev/carve/pkg/podcontract"
	ut "github.com/carve-dev/carve/pkg/util/testing"
	"github.com/carve-dev/carve/pkg/webhooks"
)

// BenchmarkPodMutateHandler is the CPU cost of one pod review in the
// handler alone (no TLS, no network), for carve's pod review path and, in
// the same run, for controller-runtime's generic typed webhook around the
// same Defaulter: the comparison that justifies podReviews.
func BenchmarkPodMutateHandler(b *testing.B) {
	pod := ut.MakePod("nb", "alice").Container("main", "", "").Container("side", "100m", "").Obj()
	body := string(Review(b, pod))
	generic := func() http.Handler {
		scheme := controller.Scheme()
		r := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
			ut.MakeNamespace("alice", "ml", ""), ut.MakeWorkspace("ml", "small").Obj(), ut.MakeProfile("small", "1", "2Gi").Obj(),
		).Build()
		return webhooks.Strict(admission.WithDefaulter[*corev1.Pod](scheme, &webhooks.Pod{Reader: r, Options: podcontract.Options{PodLevelResources: true}}))
	}
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{
		{"path=carve", handlers(b)[webhooks.PathPodMutate]},
		{"path=controller-runtime", generic()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, webhooks.PathPodMutate, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				tc.h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"allowed":true`) {
					b.Fatal(rec.Code, rec.Body.String())
				}
			}
		})
	}
}
