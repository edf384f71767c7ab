package kubectlcarve

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/duration"
	resourcehelper "k8s.io/component-helpers/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// none is what a table shows where a value does not apply or is not set.
const none = "-"

// outputFlag is a command's -o flag: "" for a table or text, json or yaml.
type outputFlag struct{ format string }

func (o *outputFlag) add(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.format, "output", "o", "", "Output format: json or yaml; empty prints a table.")
}

func (o *outputFlag) validate() error {
	switch o.format {
	case "", "json", "yaml":
		return nil
	}
	return fmt.Errorf("unknown output format %q: use json or yaml", o.format)
}

// print writes report as JSON or YAML and reports true, or reports false
// when the caller is to print its table.
func (o *outputFlag) print(out io.Writer, report any) (bool, error) {
	switch o.format {
	case "json":
		b, err := json.MarshalIndent(report, "", "    ")
		if err != nil {
			return true, err
		}
		_, err = fmt.Fprintf(out, "%s\n", b)
		return true, err
	case "yaml":
		b, err := yaml.Marshal(report)
		if err != nil {
			return true, err
		}
		_, err = out.Write(b)
		return true, err
	}
	return false, nil
}

// table is kubectl's tabular look: upper-case headers, columns three
// spaces apart, no borders (kubectl's printers.GetNewTabWriter settings).
type table struct{ w *tabwriter.Writer }

func newTable(out io.Writer, headers ...string) *table {
	t := &table{w: tabwriter.NewWriter(out, 6, 4, 3, ' ', 0)}
	t.row(headers...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = none
		}
	}
	fmt.Fprintln(t.w, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.w.Flush() }

// ageFunc prints how long ago t was.
type ageFunc func(t time.Time) string

// kubectlAge is kubectl's AGE: 5s, 3m2s, 4h, 2d.
func kubectlAge(now func() time.Time) ageFunc {
	return func(t time.Time) string {
		if t.IsZero() {
			return "<unknown>"
		}
		return duration.HumanDuration(now().Sub(t))
	}
}

// quantity is q as a string, "" for nil.
func quantity(q *resource.Quantity) string {
	if q == nil {
		return ""
	}
	return q.String()
}

// price is a price per hour as a plain decimal ("0.68", not the
// quantity's canonical "680m"), "" for nil.
func price(q *resource.Quantity) string {
	if q == nil {
		return ""
	}
	s := q.AsDec().String()
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// Requests is what a pod requests, as carve's quota counts it: effective
// CPU and memory (pod-level resources when set, init containers and
// sidecars included) and GPUs of any vendor.
type Requests struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
	GPU    string `json:"gpu,omitempty"`
}

func podRequests(pod *corev1.Pod) corev1.ResourceList {
	return resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
}

func requestsOf(pod *corev1.Pod) Requests {
	reqs := podRequests(pod)
	var r Requests
	if q, ok := reqs[corev1.ResourceCPU]; ok && !q.IsZero() {
		r.CPU = q.String()
	}
	if q, ok := reqs[corev1.ResourceMemory]; ok && !q.IsZero() {
		r.Memory = q.String()
	}
	var gpus int64
	for name, q := range reqs {
		if carvev1.IsGPUResource(name) {
			gpus += q.Value()
		}
	}
	if gpus > 0 {
		r.GPU = fmt.Sprint(gpus)
	}
	return r
}

// String is "cpu 1, memory 2Gi, gpu 1".
func (r Requests) String() string {
	var parts []string
	for _, p := range [][2]string{{"cpu", r.CPU}, {"memory", r.Memory}, {"gpu", r.GPU}} {
		if p[1] != "" {
			parts = append(parts, p[0]+" "+p[1])
		}
	}
	return strings.Join(parts, ", ")
}

// runReport is what every command does: check -o, connect, gather its
// report, and print it as -o asks or as its table.
func runReport[R any](ctx context.Context, e *env, out *outputFlag, gather func(context.Context, client.Client) (R, error), table func(io.Writer, R) error) error {
	if err := out.validate(); err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	r, err := gather(ctx, c)
	if err != nil {
		return err
	}
	if done, err := out.print(e.streams.Out, r); done {
		return err
	}
	return table(e.streams.Out, r)
}
