package webhooks_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/carve-dev/carve/pkg/controller"
	"github.com/carve-dev/carve/pkg/podcontract"
	ut "github.com/carve-dev/carve/pkg/util/testing"
	"github.com/carve-dev/carve/pkg/webhooks"
)

// benchReviews are reviews of the pods test/bench/admission sends
// (ut.PlatformPod), as the apiserver sends them to the mutating webhook or,
// with admitted set, as carve's mutating webhook leaves them for the
// validating one; and a reader that reads like carve-controller's cache.
func benchReviews(b *testing.B, admitted bool) ([]string, client.Reader) {
	objs := append(ut.PlatformObjects(), ut.MakeNamespace("alice", "ml", "vision"))
	var lookup []any
	for _, o := range objs {
		if _, ok := o.(*corev1.Namespace); !ok {
			lookup = append(lookup, o)
		}
	}
	var bodies []string
	for i := range 16 {
		pod := ut.PlatformPod("alice", i)
		if admitted {
			var err error
			if pod, err = podcontract.Admit(pod, ut.MakeNamespace("alice", "ml", "vision"), ut.NewObjects(lookup...), podcontract.Options{PodLevelResources: true}); err != nil {
				b.Fatal(err)
			}
		}
		bodies = append(bodies, string(Review(b, pod)))
	}
	return bodies, ut.NewCacheReader(objs...)
}

// BenchmarkPodMutateHandler is the CPU cost of one pod review in the
// mutating handler alone (no TLS, no network), for carve's pod review path
// and, in the same run, for controller-runtime's generic typed webhook
// around the same Defaulter: the comparison that justifies podReviews.
func BenchmarkPodMutateHandler(b *testing.B) {
	bodies, r := benchReviews(b, false)
	pod := &webhooks.Pod{Reader: r, Options: podcontract.Options{PodLevelResources: true}}
	benchHandlers(b, webhooks.PathPodMutate, bodies, map[string]http.Handler{
		"carve":              webhooks.Handlers(controller.Scheme(), r, r, pod.Options)[webhooks.PathPodMutate],
		"controller-runtime": webhooks.Strict(admission.WithDefaulter[*corev1.Pod](controller.Scheme(), pod)),
	})
}

// BenchmarkPodValidateHandler is the same for the validating handler and
// controller-runtime's typed validating webhook around the same Validator.
func BenchmarkPodValidateHandler(b *testing.B) {
	bodies, r := benchReviews(b, true)
	pod := &webhooks.Pod{Reader: r, Options: podcontract.Options{PodLevelResources: true}}
	benchHandlers(b, webhooks.PathPodValidate, bodies, map[string]http.Handler{
		"carve":              webhooks.Handlers(controller.Scheme(), r, r, pod.Options)[webhooks.PathPodValidate],
		"controller-runtime": webhooks.Strict(admission.WithValidator[*corev1.Pod](controller.Scheme(), pod)),
	})
}

// BenchmarkPodHandlerFreshGoroutine is carve's handlers with each review
// on a goroutine of its own, as net/http's HTTP/2 server runs each request:
// a new goroutine's stack starts small and grows (runtime.copystack), which
// the benchmarks above, whose loop's goroutine has grown its stack once,
// do not show.
func BenchmarkPodHandlerFreshGoroutine(b *testing.B) {
	for _, admitted := range []bool{false, true} {
		bodies, r := benchReviews(b, admitted)
		path := webhooks.PathPodMutate
		if admitted {
			path = webhooks.PathPodValidate
		}
		h := webhooks.Handlers(controller.Scheme(), r, r, podcontract.Options{PodLevelResources: true})[path]
		b.Run("path="+strings.TrimPrefix(path, "/"), func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime()
			done := make(chan *httptest.ResponseRecorder)
			i := 0
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(bodies[i%len(bodies)]))
				req.Header.Set("Content-Type", "application/json")
				go func() {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					done <- rec
				}()
				if rec := <-done; rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"allowed":true`) {
					b.Fatal(rec.Code, rec.Body.String())
				}
				i++
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

func benchHandlers(b *testing.B, path string, bodies []string, hs map[string]http.Handler) {
	// controller-runtime's webhook logs each review at V(5) through its
	// root logger, which complains once a second until one is set.
	ctrllog.SetLogger(logr.Discard())
	for _, name := range []string{"carve", "controller-runtime"} {
		h := hs[name]
		b.Run("path="+name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime()
			i := 0
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(bodies[i%len(bodies)]))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"allowed":true`) {
					b.Fatal(rec.Code, rec.Body.String())
				}
				i++
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the CPU the process has used, garbage collection included.
// On a shared machine it varies less than ns/op, the wall time, which
// counts the time other processes held the CPU.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
