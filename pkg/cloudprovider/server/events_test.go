package server_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/externalgrpc"
	"github.com/carve-dev/carve/pkg/cloudprovider/kwok"
	"github.com/carve-dev/carve/pkg/cloudprovider/server"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// event is what a test compares of a recorded Event.
type event struct {
	Type, Reason, Action, Note string
	// Regarding is the NodePool's name, Related the Node's (or "").
	Regarding, Related string
	// RegardingRV is the resourceVersion of the reference: it must be empty
	// so that repeats are counted in one Event series.
	RegardingRV string
}

// recorder keeps the Events recorded through it.
type recorder struct {
	mu     sync.Mutex
	events []event
}

func (r *recorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	e := event{Type: eventtype, Reason: reason, Action: action, Note: fmt.Sprintf(note, args...)}
	if m, err := meta.Accessor(regarding); err == nil {
		e.Regarding, e.RegardingRV = m.GetName(), m.GetResourceVersion()
	}
	if related != nil {
		if m, err := meta.Accessor(related); err == nil {
			e.Related = m.GetName()
		}
	}
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// take returns the Events recorded since the last call.
func (r *recorder) take() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// newReportingServer is newServer with a recorder and scale outcomes.
func newReportingServer(t *testing.T, objs ...client.Object) (*server.Server, client.Client, *recorder, *server.ScaleOutcomes) {
	t.Helper()
	_, c := newServer(t, objs...)
	rec, outcomes := &recorder{}, server.NewScaleOutcomes()
	s := server.NewServer(c, c, map[carvev1.PlatformType]cloudprovider.Platform{carvev1.PlatformKwok: kwok.New(c, c)},
		server.WithRecorder(rec), server.WithOutcomes(outcomes))
	return s, c, rec, outcomes
}

// Every refusal is a Warning Event on the pool naming the guard and what to
// do, and the pool's latest outcome; successes record no Event but clear the
// outcome; other errors change neither.
func TestRefusalsRecordEvents(t *testing.T) {
	ctx := context.Background()
	s, c, rec, outcomes := newReportingServer(t,
		ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 1, 3, "4", "16Gi").Obj(),
		ut.MakeNodePool("base", carvev1.NodePoolRoleBase, 1, 1, "4", "16Gi").Obj(),
	)
	nodes := grow(t, s, c, "cpu", 2)
	base := grow(t, s, c, "base", 1)
	session := ut.MakePod("nb", "alice").Workload(carvev1.WorkloadSession).NodeName(nodes[1].Name).Obj()
	session.Status.Phase = corev1.PodRunning
	if err := c.Create(ctx, session); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("events after successful increases: %v, want none", got)
	}
	del := func(pool string, n corev1.Node) error {
		_, err := s.NodeGroupDeleteNodes(ctx, &externalgrpc.NodeGroupDeleteNodesRequest{Id: pool, Nodes: []*externalgrpc.ExternalGrpcNode{grpcNode(n)}})
		return err
	}
	lastReason := func(pool string) string {
		r, known := outcomes.Last(pool)
		switch {
		case !known:
			return "unknown"
		case r == nil:
			return "accepted"
		}
		return r.Reason
	}

	steps := []struct {
		name       string
		call       func() error
		pool       string
		want       []event
		wantReason string
	}{
		{
			name: "session", pool: "cpu", wantReason: server.ReasonSessionRunning,
			call: func() error { return del("cpu", nodes[1]) },
			want: []event{{Type: corev1.EventTypeWarning, Reason: server.ReasonSessionRunning, Action: server.ActionDeleteNodes,
				Regarding: "cpu", Related: nodes[1].Name,
				Note: "deleting node " + nodes[1].Name + ": it runs session alice/nb (carve never removes a node under a session); the node can go once the session ends (delete pod alice/nb to end it now)"}},
		},
		{
			name: "delete down to minSize", pool: "cpu", wantReason: "accepted",
			call: func() error { return del("cpu", nodes[0]) },
		},
		{
			name: "below minSize", pool: "cpu", wantReason: server.ReasonBelowMinSize,
			call: func() error { _ = c.Delete(ctx, session); return del("cpu", nodes[1]) },
			want: []event{{Type: corev1.EventTypeWarning, Reason: server.ReasonBelowMinSize, Action: server.ActionDeleteNodes,
				Regarding: "cpu", Related: nodes[1].Name,
				Note: "deleting node " + nodes[1].Name + " from node group cpu: 0 nodes would be left, below minSize 1; lower spec.minSize of NodePool cpu to let the pool shrink further"}},
		},
		{
			name: "base last node", pool: "base", wantReason: server.ReasonBaseLastNode,
			call: func() error { return del("base", base[0]) },
			want: []event{{Type: corev1.EventTypeWarning, Reason: server.ReasonBaseLastNode, Action: server.ActionDeleteNodes,
				Regarding: "base", Related: base[0].Name,
				Note: "deleting node " + base[0].Name + " from node group base: the Base pool keeps its last node; a Base pool always keeps one node; to replace this one, let the pool grow first"}},
		},
		{
			name: "above maxSize", pool: "cpu", wantReason: server.ReasonAboveMaxSize,
			call: func() error {
				_, err := s.NodeGroupIncreaseSize(ctx, &externalgrpc.NodeGroupIncreaseSizeRequest{Id: "cpu", Delta: 3})
				return err
			},
			want: []event{{Type: corev1.EventTypeWarning, Reason: server.ReasonAboveMaxSize, Action: server.ActionIncreaseSize,
				Regarding: "cpu",
				Note:      "increasing node group cpu by 3: target size 1 would exceed maxSize 3; raise spec.maxSize of NodePool cpu if it should grow further"}},
		},
		{
			// Not a guard: no Event, the outcome stays.
			name: "invalid delta", pool: "cpu", wantReason: server.ReasonAboveMaxSize,
			call: func() error {
				_, err := s.NodeGroupIncreaseSize(ctx, &externalgrpc.NodeGroupIncreaseSizeRequest{Id: "cpu", Delta: 0})
				return err
			},
		},
		{
			name: "registered nodes", pool: "cpu", wantReason: server.ReasonNodesRegistered,
			call: func() error {
				_, err := s.NodeGroupDecreaseTargetSize(ctx, &externalgrpc.NodeGroupDecreaseTargetSizeRequest{Id: "cpu", Delta: -1})
				return err
			},
			want: []event{{Type: corev1.EventTypeWarning, Reason: server.ReasonNodesRegistered, Action: server.ActionDecreaseTargetSize,
				Regarding: "cpu",
				Note:      "decreasing target size of node group cpu by 1: only 0 of its 1 nodes are not registered; registered nodes are removed only through DeleteNodes; nothing to do: the autoscaler removes registered nodes through DeleteNodes"}},
		},
		{
			name: "increase", pool: "cpu", wantReason: "accepted",
			call: func() error {
				_, err := s.NodeGroupIncreaseSize(ctx, &externalgrpc.NodeGroupIncreaseSizeRequest{Id: "cpu", Delta: 1})
				return err
			},
		},
	}
	for _, st := range steps {
		err := st.call()
		if (err != nil) != (len(st.want) > 0 || st.name == "invalid delta") {
			t.Errorf("%s: error %v", st.name, err)
		}
		if diff := cmp.Diff(st.want, rec.take()); diff != "" {
			t.Errorf("%s: events (-want +got):\n%s", st.name, diff)
		}
		if got := lastReason(st.pool); got != st.wantReason {
			t.Errorf("%s: latest outcome of %s = %s, want %s", st.name, st.pool, got, st.wantReason)
		}
	}
}

// Without a recorder or outcomes, refusals are still refused.
func TestRefusalsWithoutRecorder(t *testing.T) {
	s, c := newServer(t, ut.MakeNodePool("base", carvev1.NodePoolRoleBase, 1, 1, "4", "16Gi").Obj())
	node := grow(t, s, c, "base", 1)[0]
	_, err := s.NodeGroupDeleteNodes(context.Background(), &externalgrpc.NodeGroupDeleteNodesRequest{Id: "base", Nodes: []*externalgrpc.ExternalGrpcNode{grpcNode(node)}})
	if codeOf(err) != codes.FailedPrecondition {
		t.Errorf("deleting the Base pool's last node: %v, want FailedPrecondition", err)
	}
}
