package chart

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/carve-dev/carve/test/framework"
)

var chartDir = filepath.Join(framework.RepoRoot(), "charts", "carve")

// helm runs the helm binary with its cache, config and data folders in a
// fresh temporary folder, so no repository or plugin of the machine's user
// leaks in. It returns stdout, and an error carrying stderr.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin, err := framework.BinDir()
	if err != nil {
		t.Fatalf("finding the helm binary: %v", err)
	}
	home := t.TempDir()
	cmd := exec.Command(filepath.Join(bin, "helm"), args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// valuesFile writes values (YAML) to a file for helm's -f.
func valuesFile(t *testing.T, values string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(f, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// render runs `helm template` for release name/namespace with the given
// values (YAML, may be empty) and decodes every object strictly, so a field
// misspelled in a template fails here rather than being dropped by the
// apiserver.
func render(t *testing.T, name, namespace, values string) []runtime.Object {
	t.Helper()
	out := renderManifests(t, name, namespace, values)
	objs, err := decode(out)
	if err != nil {
		t.Fatalf("decoding the rendered chart: %v\n%s", err, out)
	}
	return objs
}

// renderManifests runs `helm template` like render and returns its output.
func renderManifests(t *testing.T, name, namespace, values string) string {
	t.Helper()
	return renderChart(t, chartDir, name, namespace, values)
}

// renderChart runs `helm template` on chart, a folder or a packaged chart.
func renderChart(t *testing.T, chart, name, namespace, values string) string {
	t.Helper()
	args := []string{"template", name, chart, "--namespace", namespace}
	if values != "" {
		args = append(args, "-f", valuesFile(t, values))
	}
	out, err := helm(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var strictDecoder = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

func decode(manifests string) ([]runtime.Object, error) {
	docs, err := documents(manifests)
	if err != nil {
		return nil, err
	}
	var objs []runtime.Object
	for _, doc := range docs {
		obj, _, err := strictDecoder.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%w in\n%s", err, doc)
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

// documents splits a multi-document YAML stream, leaving out documents
// that hold only comments (a template rendered empty).
func documents(manifests string) ([][]byte, error) {
	var docs [][]byte
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifests)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		docs = append(docs, doc)
	}
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for line := range bytes.Lines(doc) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			b.Write(line)
		}
	}
	return b.Bytes()
}

// all returns the rendered objects of type T.
func all[T runtime.Object](objs []runtime.Object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// only returns the one rendered object of type T, failing unless there is
// exactly one.
func only[T runtime.Object](t *testing.T, objs []runtime.Object) T {
	t.Helper()
	got := all[T](objs)
	if len(got) != 1 {
		var zero T
		t.Fatalf("rendered %d objects of type %T, want 1", len(got), zero)
	}
	return got[0]
}

// controllerBinary builds cmd/carve-controller once per test binary.
func controllerBinary(t *testing.T) string {
	t.Helper()
	path, err := buildController()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

var buildController = sync.OnceValues(func() (string, error) { return goBuild("carve-controller") })

// cloudProviderBinary builds cmd/carve-cloudprovider once per test binary.
func cloudProviderBinary(t *testing.T) string {
	t.Helper()
	path, err := buildCloudProvider()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

var buildCloudProvider = sync.OnceValues(func() (string, error) { return goBuild("carve-cloudprovider") })

// goBuild builds ./cmd/<name> into binDir.
func goBuild(name string) (string, error) {
	out := filepath.Join(binDir, name)
	cmd := exec.Command("go", "build", "-o", out, "./cmd/"+name)
	cmd.Dir = framework.RepoRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %w\n%s", name, err, b)
	}
	return out, nil
}

// binDir holds what the tests build; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// controller-runtime's clients log through klog, as carve's binaries
	// do, instead of warning that no logger was set.
	ctrllog.SetLogger(klog.NewKlogr())
	var err error
	if binDir, err = os.MkdirTemp("", "carve-chart-test-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(binDir)
	return m.Run()
}

// named returns the rendered object of type T with that namespace and name,
// failing if there is none.
func named[T client.Object](t *testing.T, objs []runtime.Object, namespace, name string) T {
	t.Helper()
	for _, o := range all[T](objs) {
		if o.GetName() == name && o.GetNamespace() == namespace {
			return o
		}
	}
	var zero T
	t.Fatalf("no rendered %T %s/%s", zero, namespace, name)
	return zero
}

// flags turns args of the form --name=value into a map, failing on any
// other form: the chart writes every flag that way so it reads unambiguously.
func flags(t *testing.T, args []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, a := range args {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok || !strings.HasPrefix(a, "--") {
			t.Fatalf("argument %q is not of the form --name=value", a)
		}
		if _, dup := m[name]; dup {
			t.Fatalf("flag --%s given twice", name)
		}
		m[name] = value
	}
	return m
}

// fileWriter returns a function that writes data at rel under root, making
// its folders, for tests that run a hack script in a scratch repository.
func fileWriter(t *testing.T, root string) func(rel, data string, mode os.FileMode) {
	return func(rel, data string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
}
