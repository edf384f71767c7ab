package scheduler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// TestWorkspaceStatus: the Workspace's status and kubectl's columns say what
// the queue admits and holds, through a burst, deletions and a restart of
// the scheduler, which rebuilds the same numbers.
func TestWorkspaceStatus(t *testing.T) {
	ws := ut.MakeWorkspace("wss", "small").Quota("3", "", "", -1).Obj()
	pool := setup(t, ws, []string{"wss-alice", "wss-bob"}, 1, "16", "64Gi")
	for i := range 5 {
		create(t, workspacePod("wss", []string{"wss-alice", "wss-bob"}[i%2], fmt.Sprint("p", i), pool, "1"))
	}
	status := func(ctx context.Context) (*carvev1.Workspace, error) {
		got := &carvev1.Workspace{}
		return got, cl.Get(ctx, client.ObjectKey{Name: "wss"}, got)
	}
	waitStatus := func(what string, cond func(*carvev1.Workspace) bool) *carvev1.Workspace {
		t.Helper()
		var last *carvev1.Workspace
		err := wait.PollUntilContextTimeout(t.Context(), poll, timeout, true, func(ctx context.Context) (bool, error) {
			w, err := status(ctx)
			last = w
			return err == nil && cond(w), nil
		})
		if err != nil {
			b, _ := json.Marshal(last.Status)
			t.Fatalf("waiting for the status to show %s: %v; last status %s", what, err, b)
		}
		return last
	}
	exhausted := func(w *carvev1.Workspace) string {
		for _, c := range w.Status.Conditions {
			if c.Type == carvev1.WorkspaceQuotaExhausted {
				return string(c.Status) + " " + c.Reason + ": " + c.Message
			}
		}
		return ""
	}

	w := waitStatus("3 admitted, 2 waiting", func(w *carvev1.Workspace) bool {
		return w.Status.Admitted.Pods == 3 && w.Status.Waiting == 2
	})
	if got := w.Status.Summary.CPU; got != "3/3" {
		t.Errorf("summary cpu %q, want 3/3", got)
	}
	if got, want := exhausted(w), "True PodsWaiting: 2 pods wait for quota: workspace cpu 3/3 in use"; got != want {
		t.Errorf("QuotaExhausted %q, want %q", got, want)
	}
	if len(w.Status.Projects) != 2 || w.Status.ProjectCount != 2 || w.Status.Projects[0].Admitted.Pods+w.Status.Projects[1].Admitted.Pods != 3 {
		t.Errorf("projects %+v (count %d): want wss-alice and wss-bob holding 3 pods between them", w.Status.Projects, w.Status.ProjectCount)
	}
	if w.Status.ObservedGeneration != w.Generation {
		t.Errorf("observedGeneration %d, generation %d", w.Status.ObservedGeneration, w.Generation)
	}

	// kubectl get ws: the columns as the API server prints them.
	columns := table(t, "wss")
	for col, want := range map[string]any{"CPU": "3/3", "GPU": "0", "WAITING": int64(2)} {
		if got := columns[col]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("kubectl get ws column %s = %v, want %v (all: %v)", col, got, want, columns)
		}
	}

	// Two admitted pods end: the waiting two start, nothing waits.
	for _, p := range []string{"p0", "p1"} {
		ns := map[string]string{"p0": "wss-alice", "p1": "wss-bob"}[p]
		waitBound(t, ns, p)
		deletePod(t, ns, p)
	}
	w = waitStatus("3 admitted, none waiting", func(w *carvev1.Workspace) bool {
		return w.Status.Admitted.Pods == 3 && w.Status.Waiting == 0 && exhausted(w) == "False NoneWaiting: no pod waits for quota"
	})

	// A restarted scheduler rebuilds the same numbers: what it writes (the
	// spend grows while pods run) leaves the accounting and the
	// condition's transition time as they were.
	stopScheduler()
	if err := startScheduler(context.Background()); err != nil {
		t.Fatalf("restarting carve-scheduler: %v", err)
	}
	accounting := func(w *carvev1.Workspace) string {
		st := w.Status.DeepCopy()
		st.Spend, st.Summary.Spend = nil, ""
		b, _ := json.Marshal(st)
		return string(b)
	}
	before := accounting(w)
	err := wait.PollUntilContextTimeout(t.Context(), poll, 3*2*time.Second, true, func(ctx context.Context) (bool, error) {
		now, err := status(ctx)
		return err == nil && accounting(now) != before, nil
	})
	if err == nil {
		now, _ := status(t.Context())
		t.Errorf("the restarted scheduler changed an unchanged accounting:\n was %s\n now %s", before, accounting(now))
	}

	// And it keeps the status current.
	deletePod(t, "wss-alice", "p2")
	waitStatus("2 admitted after the restart", func(w *carvev1.Workspace) bool {
		return w.Status.Admitted.Pods == 2 && w.Status.Summary.CPU == "2/3"
	})
}

// table is kubectl get's row of a Workspace: column name to cell.
func table(t *testing.T, name string) map[string]any {
	t.Helper()
	raw, err := k8s.CoreV1().RESTClient().Get().AbsPath("/apis/carve.dev/v1alpha1/workspaces", name).
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var tbl metav1.Table
	if err := json.Unmarshal(raw, &tbl); err != nil {
		t.Fatal(err)
	}
	if len(tbl.Rows) != 1 {
		t.Fatalf("table has %d rows", len(tbl.Rows))
	}
	out := map[string]any{}
	for i, c := range tbl.ColumnDefinitions {
		out[c.Name] = tbl.Rows[0].Cells[i]
	}
	return out
}
