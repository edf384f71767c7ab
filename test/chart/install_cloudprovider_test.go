package chart

import (
	"context"
	"crypto/tls"
	"fmt"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider/externalgrpc"
	"github.com/carve-dev/carve/pkg/cloudprovider/poolstatus"
	providerrun "github.com/carve-dev/carve/pkg/cloudprovider/run"
	"github.com/carve-dev/carve/pkg/cloudprovider/server"
	ut "github.com/carve-dev/carve/pkg/util/testing"
	"github.com/carve-dev/carve/test/framework"
)

// runCloudProviderAsServiceAccount runs carve-cloudprovider on the host with
// the installed Deployment's arguments (its address moved to a free local
// port, its certificate paths to a test CA's files) through a kubeconfig
// that impersonates the chart's ServiceAccount, and drives it over mutual
// TLS through everything that needs a permission: it watches pools and
// nodes, creates two nodes (Kwok platform), lists the pods on one and
// deletes it, refuses to delete the other (an Event in "default") and
// writes the pool's status. Its log must show no denied request.
func runCloudProviderAsServiceAccount(ctx context.Context, t *testing.T, c *framework.Cluster) {
	d, err := c.Client.AppsV1().Deployments(namespace).Get(ctx, "carve-cloudprovider", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	user := "system:serviceaccount:" + namespace + ":" + d.Spec.Template.Spec.ServiceAccountName
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	cfg, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range cfg.AuthInfos {
		ai.Impersonate = user
	}
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	port, err := framework.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	pki := newTestPKI(t)
	var args []string
	for name, value := range flags(t, d.Spec.Template.Spec.Containers[0].Args) {
		switch name {
		case "address":
			value = addr
		case "cert", "key", "cacert":
			value = filepath.Join(pki.Dir, path.Base(value))
		}
		args = append(args, "--"+name+"="+value)
	}
	args = append(args, "--kubeconfig="+kubeconfig)

	proc := startBinary(t, "carve-cloudprovider", cloudProviderBinary(t), user, args, nil, 15*time.Second)

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: pki.CAs, Certificates: []tls.Certificate{pki.Client}, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12,
	})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cp := externalgrpc.NewCloudProviderClient(conn)

	cl, err := client.New(c.Config, client.Options{Scheme: providerScheme(t)})
	if err != nil {
		t.Fatal(err)
	}
	pool := ut.MakeNodePool("chart", carvev1.NodePoolRoleCPU, 1, 2, "4", "16Gi").Obj()
	if err := cl.Create(ctx, pool); err != nil {
		t.Fatalf("creating NodePool chart: %v", err)
	}
	defer func() {
		bg := context.Background()
		_ = cl.DeleteAllOf(bg, &corev1.Node{}, client.MatchingLabels{carvev1.LabelNodePool: pool.Name})
		_ = cl.Delete(bg, pool)
	}()

	// Served once the informers have synced and the pool is seen.
	err = poll(ctx, 60*time.Second, func(ctx context.Context) (bool, error) {
		if err := proc.alive(); err != nil {
			return false, err
		}
		_, err := cp.NodeGroupTargetSize(ctx, &externalgrpc.NodeGroupTargetSizeRequest{Id: pool.Name})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("carve-cloudprovider did not serve NodePool %s as %s: %v", pool.Name, user, err)
	}
	if _, err := cp.NodeGroupIncreaseSize(ctx, &externalgrpc.NodeGroupIncreaseSizeRequest{Id: pool.Name, Delta: 2}); err != nil {
		t.Fatalf("IncreaseSize: %v", err)
	}
	var nodes []corev1.Node
	err = poll(ctx, 30*time.Second, func(ctx context.Context) (bool, error) {
		resp, err := cp.NodeGroupNodes(ctx, &externalgrpc.NodeGroupNodesRequest{Id: pool.Name})
		if err != nil || len(resp.Instances) != 2 {
			return false, err
		}
		list := &corev1.NodeList{}
		if err := cl.List(ctx, list, client.MatchingLabels{carvev1.LabelNodePool: pool.Name}); err != nil {
			return false, err
		}
		nodes = list.Items
		return len(nodes) == 2, nil
	})
	if err != nil {
		t.Fatalf("waiting for the 2 nodes: %v", err)
	}
	del := func(n corev1.Node) error {
		_, err := cp.NodeGroupDeleteNodes(ctx, &externalgrpc.NodeGroupDeleteNodesRequest{Id: pool.Name,
			Nodes: []*externalgrpc.ExternalGrpcNode{{ProviderID: n.Spec.ProviderID, Name: n.Name, Labels: n.Labels}}})
		return err
	}
	if err := del(nodes[0]); err != nil {
		t.Fatalf("deleting %s: %v", nodes[0].Name, err)
	}
	if err := del(nodes[1]); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("deleting the last node below minSize: %v, want FailedPrecondition", err)
	}

	// The refusal is an Event; the status shows it, and the node that
	// never became Ready (no kwok here).
	want := []string{
		"Event " + server.ReasonBelowMinSize,
		"Ready=True/" + poolstatus.ReasonServed,
		"ScalingUp=True/" + poolstatus.ReasonWaitingForNodes,
		"ScaleRefused=True/" + server.ReasonBelowMinSize,
		"target=1 current=1",
	}
	var got []string
	err = poll(ctx, 30*time.Second, func(ctx context.Context) (bool, error) {
		evs, err := c.Client.CoreV1().Events(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{
			FieldSelector: fields.Set{"involvedObject.kind": "NodePool", "involvedObject.name": pool.Name}.String()})
		if err != nil {
			return false, err
		}
		np := &carvev1.NodePool{}
		if err := cl.Get(ctx, client.ObjectKeyFromObject(pool), np); err != nil {
			return false, err
		}
		got = nil
		for _, e := range evs.Items {
			got = append(got, "Event "+e.Reason)
		}
		for _, typ := range []string{carvev1.NodePoolReady, carvev1.NodePoolScalingUp, carvev1.NodePoolScaleRefused} {
			if cond := meta.FindStatusCondition(np.Status.Conditions, typ); cond != nil {
				got = append(got, typ+"="+string(cond.Status)+"/"+cond.Reason)
			}
		}
		got = append(got, fmt.Sprintf("target=%d current=%d", np.Status.TargetSize, np.Status.CurrentSize))
		return cmp.Equal(want, got), nil
	})
	if err != nil {
		t.Errorf("Event and status of NodePool %s: %v\n(-want +got):\n%s", pool.Name, err, cmp.Diff(want, got))
	}

	proc.stop()
	if strings.Contains(strings.ToLower(proc.output()), "forbidden") {
		t.Errorf("carve-cloudprovider's log mentions \"forbidden\": the chart's RBAC misses something")
	}
}

func providerScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s, err := providerrun.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
