package workspacequeue

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	ut "github.com/carve-dev/carve/pkg/util/testing"
)

func req(milliCPU, memGi, gpu int64) amounts {
	return amounts{milliCPU, memGi << 30, gpu, 1}
}

func TestDecide(t *testing.T) {
	ws := func(w *ut.WorkspaceWrapper) quotas { return quotasOf(w.Obj()) }
	used := func(total amounts, team map[string]amounts, project map[string]amounts) usage {
		u := newUsage()
		u.total = total
		for k, v := range team {
			u.team[k] = v
		}
		for k, v := range project {
			u.project[k] = v
		}
		return u
	}
	cases := []struct {
		name    string
		q       quotas
		u       usage
		team    string
		project string
		req     amounts
		want    verdict
	}{{
		name: "no quota admits anything",
		q:    ws(ut.MakeWorkspace("ws", "small")),
		u:    used(req(100000, 1000, 50), nil, nil),
		req:  req(8000, 32, 4),
		want: verdict{admit: true},
	}, {
		name: "quota exactly filled by the pod",
		q:    ws(ut.MakeWorkspace("ws", "small").Quota("8", "32Gi", "", -1)),
		u:    used(req(6000, 24, 0), nil, nil),
		req:  req(2000, 8, 0),
		want: verdict{admit: true},
	}, {
		name: "one milli-CPU over",
		q:    ws(ut.MakeWorkspace("ws", "small").Quota("8", "", "", -1)),
		u:    used(req(6001, 0, 0), nil, nil),
		req:  req(2000, 8, 0),
		want: verdict{scope: scopeWorkspace, r: resCPU, used: 6001, max: 8000, need: 2000},
	}, {
		name: "zero GPU quota holds GPU pods",
		q:    ws(ut.MakeWorkspace("ws", "small").Quota("", "", "0", -1)),
		req:  req(1000, 4, 1),
		want: verdict{scope: scopeWorkspace, r: resGPU, max: 0, need: 1},
	}, {
		name: "zero GPU quota lets CPU pods through",
		q:    ws(ut.MakeWorkspace("ws", "small").Quota("", "", "0", -1)),
		req:  req(1000, 4, 0),
		want: verdict{admit: true},
	}, {
		name: "GPU-only quota ignores CPU",
		q:    ws(ut.MakeWorkspace("ws", "small").Quota("", "", "4", -1)),
		u:    used(req(500000, 4000, 3), nil, nil),
		req:  req(64000, 512, 1),
		want: verdict{admit: true},
	}, {
		name: "quota lowered below usage admits nothing that needs the resource",
		q:    ws(ut.MakeWorkspace("ws", "small").Quota("4", "", "", -1)),
		u:    used(req(6000, 0, 0), nil, nil),
		req:  req(1, 0, 0),
		want: verdict{scope: scopeWorkspace, r: resCPU, used: 6000, max: 4000, need: 1},
	}, {
		name: "pod count quota",
		q:    ws(ut.MakeWorkspace("ws", "small").Quota("", "", "", 2)),
		u:    used(amounts{0, 0, 0, 2}, nil, nil),
		req:  req(0, 0, 0),
		want: verdict{scope: scopeWorkspace, r: resPods, used: 2, max: 2, need: 1},
	}, {
		name:    "team quota full, workspace has room",
		q:       ws(ut.MakeWorkspace("ws", "small").Quota("100", "", "", -1).TeamQuota("nlp", "4", "", "", -1)),
		u:       used(req(4000, 0, 0), map[string]amounts{"nlp": req(4000, 0, 0)}, nil),
		team:    "nlp",
		project: "alice",
		req:     req(1000, 0, 0),
		want:    verdict{scope: scopeTeam, name: "nlp", r: resCPU, used: 4000, max: 4000, need: 1000},
	}, {
		name:    "other team is not capped by nlp's quota",
		q:       ws(ut.MakeWorkspace("ws", "small").Quota("100", "", "", -1).TeamQuota("nlp", "4", "", "", -1)),
		u:       used(req(4000, 0, 0), map[string]amounts{"nlp": req(4000, 0, 0)}, nil),
		team:    "vision",
		project: "bob",
		req:     req(1000, 0, 0),
		want:    verdict{admit: true},
	}, {
		name:    "project quota full",
		q:       ws(ut.MakeWorkspace("ws", "small").ProjectQuota("", "16Gi", "", -1)),
		u:       used(req(0, 16, 0), nil, map[string]amounts{"alice": req(0, 16, 0)}),
		project: "alice",
		req:     req(0, 1, 0),
		want:    verdict{scope: scopeProject, name: "alice", r: resMemory, used: 16 << 30, max: 16 << 30, need: 1 << 30},
	}, {
		name:    "another project has its own room",
		q:       ws(ut.MakeWorkspace("ws", "small").ProjectQuota("", "16Gi", "", -1)),
		u:       used(req(0, 16, 0), nil, map[string]amounts{"alice": req(0, 16, 0)}),
		project: "bob",
		req:     req(0, 1, 0),
		want:    verdict{admit: true},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.u.team == nil {
				tc.u = used(tc.u.total, nil, nil)
			}
			got := decide(tc.q, tc.u, tc.team, tc.project, tc.req)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(verdict{})); diff != "" {
				t.Errorf("decide (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerdictMessage(t *testing.T) {
	cases := []struct {
		v        verdict
		position int
		want     string
	}{
		{verdict{scope: scopeWorkspace, r: resGPU, used: 4, max: 4, need: 1}, 3, "waiting for workspace ml-team quota: needs gpu 1, 4/4 in use; 3rd in queue"},
		{verdict{scope: scopeWorkspace, r: resCPU, used: 15500, max: 16000, need: 1000}, 1, "waiting for workspace ml-team quota: needs cpu 1, 15500m/16 in use; 1st in queue"},
		{verdict{scope: scopeTeam, name: "nlp", r: resMemory, used: 64 << 30, max: 64 << 30, need: 1 << 30}, 12, "waiting for team nlp quota in workspace ml-team: needs memory 1Gi, 64Gi/64Gi in use; 12th in queue"},
		{verdict{scope: scopeProject, name: "ml-alice", r: resPods, used: 5, max: 5, need: 1}, 22, "waiting for the project quota of namespace ml-alice in workspace ml-team: needs pods 1, 5/5 in use; 22nd in queue"},
		{verdict{scope: scopeWorkspace, r: resGPU, used: 0, max: 4, need: 8}, 1, "waiting for workspace ml-team quota: needs gpu 8, more than the whole quota of 4: ask an admin to raise it or pick a smaller profile"},
		{verdict{scope: scopeWorkspace, r: resGPU, used: 4, max: 4, need: 1}, 0, "waiting for workspace ml-team quota: needs gpu 1, 4/4 in use"},
	}
	for _, tc := range cases {
		if got := tc.v.message("ml-team", tc.position); got != tc.want {
			t.Errorf("message(%+v, %d)\n got: %s\nwant: %s", tc.v, tc.position, got, tc.want)
		}
	}
}

func TestOrdinal(t *testing.T) {
	for n, want := range map[int]string{1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th", 21: "21st", 102: "102nd", 111: "111th"} {
		if got := ordinal(n); got != want {
			t.Errorf("ordinal(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestRequestOf(t *testing.T) {
	cases := []struct {
		name string
		pod  *ut.PodWrapper
		want amounts
	}{
		{"containers", ut.MakePod("p", "ns").Container("a", "1", "2Gi").Container("b", "500m", "1Gi"), amounts{1500, 3 << 30, 0, 1}},
		{"pod-level resources win", ut.MakePod("p", "ns").Container("a", "1", "2Gi").PodResources("4", "8Gi"), amounts{4000, 8 << 30, 0, 1}},
		{"MIG slices count as GPUs", ut.MakePod("p", "ns").Container("a", "1", "1Gi").GPU("nvidia.com/mig-1g.5gb", "2"), amounts{1000, 1 << 30, 2, 1}},
		{"GPUs of any vendor", ut.MakePod("p", "ns").Container("a", "1", "1Gi").GPU("nvidia.com/gpu", "2").Container("b", "1", "1Gi").GPU("amd.com/gpu", "1"), amounts{2000, 2 << 30, 3, 1}},
		{"init container larger than the app", ut.MakePod("p", "ns").InitContainer("i", "4", "1Gi").Container("a", "1", "1Gi"), amounts{4000, 1 << 30, 0, 1}},
	}
	for _, tc := range cases {
		if diff := cmp.Diff(tc.want, requestOf(tc.pod.Obj())); diff != "" {
			t.Errorf("%s: requestOf (-want +got):\n%s", tc.name, diff)
		}
	}
}
