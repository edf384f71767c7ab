package workspacequeue

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// queueFixture is 100 workspaces, each with its quota (10 pods) full of
// bound pods and 100 pods waiting: 10 000 waiting pods in all.
type queueFixture struct {
	tr      *tracker
	running [][]*corev1.Pod // per workspace, oldest first
	next    int
}

const (
	benchWorkspaces = 100
	benchWaiting    = 100
	benchQuota      = 10
)

func newQueueFixture() *queueFixture { return newQueueFixtureOf(benchWorkspaces, benchWaiting) }

// newQueueFixtureOf is workspaces workspaces, each with its quota full and
// waiting pods waiting.
func newQueueFixtureOf(workspaces, waiting int) *queueFixture {
	f := &queueFixture{tr: newTracker(time.Now), running: make([][]*corev1.Pod, workspaces)}
	for w := range workspaces {
		ws := fmt.Sprint("ws", w)
		f.tr.setWorkspace(ut.MakeWorkspace(ws, "small").Quota("", "", "", benchQuota).Obj())
		for project := range 4 {
			f.tr.setNamespace(fmt.Sprintf("%s-p%d", ws, project), identity{workspace: ws})
		}
		for i := range benchQuota {
			p := f.pod(ws, i%4)
			f.tr.enqueue(p)
			f.running[w] = append(f.running[w], p)
		}
		for i := range waiting {
			f.tr.enqueue(f.pod(ws, i%4))
		}
	}
	return f
}

// pod is a new workspace pod of project <ws>-p<project>.
func (f *queueFixture) pod(ws string, project int) *corev1.Pod {
	f.next++
	return ut.MakePod(fmt.Sprint("p", f.next), fmt.Sprintf("%s-p%d", ws, project)).UID(fmt.Sprint("u", f.next)).
		Workspace(ws, "").Created(t0.Add(time.Duration(f.next)*time.Second)).Container("main", "1", "1Gi").Obj()
}

// BenchmarkAdmissionOnRelease is the queue's cost per admission when quota
// frees: each op finishes one running pod of a workspace (which admits the
// first waiting pod in fair order) and adds one waiting pod, so 10 000 pods
// keep waiting over 100 workspaces.
func BenchmarkAdmissionOnRelease(b *testing.B) {
	benchmarkAdmissionOnRelease(b, newQueueFixture(), benchWorkspaces)
}

// BenchmarkAdmissionOnReleaseOneWorkspace is the same with all 10 000
// waiting pods in one workspace: an admission scans them all.
func BenchmarkAdmissionOnReleaseOneWorkspace(b *testing.B) {
	benchmarkAdmissionOnRelease(b, newQueueFixtureOf(1, benchWorkspaces*benchWaiting), 1)
}

func benchmarkAdmissionOnRelease(b *testing.B, f *queueFixture, benchWorkspaces int) {
	admitted := 0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		w := i % benchWorkspaces
		gone := f.running[w][0]
		f.running[w] = f.running[w][1:]
		_, started := f.tr.forget(gone)
		admitted += len(started)
		f.running[w] = append(f.running[w], started...)
		f.tr.enqueue(f.pod(fmt.Sprint("ws", w), i%4))
	}
	b.StopTimer()
	if admitted != b.N {
		b.Fatalf("%d admissions in %d releases", admitted, b.N)
	}
	b.ReportMetric(float64(admitted)/b.Elapsed().Seconds(), "admissions/s")
}

// BenchmarkPreEnqueueHeld is PreEnqueue for a new pod that must wait, in a
// workspace with 100 pods waiting.
func BenchmarkPreEnqueueHeld(b *testing.B) {
	f := newQueueFixture()
	pods := make([]*corev1.Pod, 0, 1<<16)
	for i := range cap(pods) {
		pods = append(pods, f.pod(fmt.Sprint("ws", i%benchWorkspaces), i%4))
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, ok, _ := f.tr.enqueue(pods[i%len(pods)]); ok {
			b.Fatal("admitted past a full quota")
		}
	}
}

// BenchmarkQueueSortLess is one comparison of kube-scheduler's active queue
// between two admitted workspace pods.
func BenchmarkQueueSortLess(b *testing.B) {
	f := newQueueFixture()
	pl := &WorkspaceQueue{tracker: f.tr}
	var infos []fwk.QueuedEntityInfo
	for w := range 10 {
		for _, p := range f.running[w] {
			pi, err := framework.NewPodInfo(p)
			if err != nil {
				b.Fatal(err)
			}
			infos = append(infos, &framework.QueuedPodInfo{PodInfo: pi, QueueingParams: framework.QueueingParams{Timestamp: p.CreationTimestamp.Time}})
		}
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		pl.Less(infos[i%len(infos)], infos[(i*7+3)%len(infos)])
	}
}
