package image

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// What the test stamps, through the Makefile's LDFLAGS.
const (
	testVersion  = "v9.8.7-test"
	testRevision = "0123456789abcdef0123456789abcdef01234567"
	testEpoch    = 1700000000
	testTag      = "1.2.3"
	testRegistry = "carve-test"
)

// TestImages builds the images for this machine's architecture as make
// images does, writes them, pushes them to an in-process registry and
// pulls them back, then runs each binary from its unpacked image. Only
// the host architecture: a second one would compile kube-scheduler again
// for little more coverage (make images builds both).
func TestImages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds carve's three binaries")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the images' linux binaries run only here")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	created := time.Unix(testEpoch, 0).UTC()
	host := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	work := t.TempDir()
	start := time.Now()
	images, err := Build(ctx, Options{
		Root:      root,
		Platforms: []v1.Platform{host},
		LDFlags:   makeLDFlags(t, root),
		Version:   testVersion,
		Revision:  testRevision,
		Created:   created,
		WorkDir:   work,
		Logf:      t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built %d images in %s", len(images), time.Since(start).Round(time.Second))
	out := t.TempDir()
	if err := Write(out, testRegistry, testTag, images); err != nil {
		t.Fatal(err)
	}

	reg := httptest.NewServer(registry.New(
		registry.Logger(log.New(io.Discard, "", 0)),
		registry.WithBlobHandler(registry.NewDiskBlobHandler(t.TempDir())),
	))
	defer reg.Close()
	regName := strings.TrimPrefix(reg.URL, "http://") + "/carve"
	pushed, err := Push(ctx, out, regName, testTag, Binaries)
	if err != nil {
		t.Fatal(err)
	}
	if len(pushed) != len(Binaries) {
		t.Fatalf("pushed %v, want one index per binary %v", pushed, Binaries)
	}

	for _, img := range images {
		t.Run(img.Binary, func(t *testing.T) {
			if len(img.Platforms) != 1 || img.Platforms[0].Platform.String() != host.String() {
				t.Fatalf("platforms %v, want %s", img.Platforms, host)
			}
			local := img.Platforms[0].Image
			checkIndex(t, img, created)
			checkLayout(t, out, img)
			checkTarball(t, out, img.Binary, host, local)
			pulled := checkPulled(t, Reference(regName, img.Binary, testTag), img)
			checkConfig(t, img.Binary, pulled, host, created)
			rootfs := unpack(t, pulled, created)
			checkRuns(t, img.Binary, filepath.Join(rootfs, Entrypoint(img.Binary)))
			checkReproducible(t, work, img.Binary, host, local, created)
		})
	}
}

// makeLDFlags asks the Makefile for its version stamps, so the test
// builds exactly what make build and make images stamp.
func makeLDFlags(t *testing.T, root string) string {
	t.Helper()
	cmd := exec.Command("make", "-s", "--no-print-directory", "print-ldflags",
		"VERSION="+testVersion, "REVISION="+testRevision, fmt.Sprintf("SOURCE_DATE_EPOCH=%d", testEpoch))
	cmd.Dir = root
	// Not the variables of a make that runs this test (make test-unit
	// VERSION=...): the test's own stamps are what it checks.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "MAKEFLAGS" && k != "MFLAGS" && k != "MAKELEVEL" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("make print-ldflags: %v\n%s", err, stderr.String())
	}
	flags := strings.TrimSpace(string(b))
	for _, want := range []string{"pkg/version.version=" + testVersion, "pkg/version.revision=" + testRevision, "pkg/version.buildDate=2023-11-14T22:13:20Z"} {
		if !strings.Contains(flags, want) {
			t.Fatalf("make print-ldflags = %q, want it to stamp %s", flags, want)
		}
	}
	return flags
}

func checkIndex(t *testing.T, img Image, created time.Time) {
	t.Helper()
	m, err := img.Index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Labels(img.Binary, testVersion, testRevision, created), m.Annotations); diff != "" {
		t.Errorf("index annotations (-want +got):\n%s", diff)
	}
	want := img.Platforms[0]
	if len(m.Manifests) != 1 || m.Manifests[0].Platform == nil || !m.Manifests[0].Platform.Equals(want.Platform) {
		t.Fatalf("index manifests %+v, want one for %s", m.Manifests, want.Platform)
	}
	if d := digest(t, want.Image); m.Manifests[0].Digest != d {
		t.Errorf("index names %s, want the image %s", m.Manifests[0].Digest, d)
	}
}

func checkLayout(t *testing.T, out string, img Image) {
	t.Helper()
	idx, err := ReadIndex(out, img.Binary, testTag)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := digest(t, idx), digest(t, img.Index); got != want {
		t.Errorf("the layout's index is %s, want %s", got, want)
	}
}

// checkTarball reads the docker-load tarball back: same config, same
// layers, named as the chart names the image.
func checkTarball(t *testing.T, out, binary string, p v1.Platform, want v1.Image) {
	t.Helper()
	path := TarballPath(out, binary, p)
	ref := Reference(testRegistry, binary, testTag)
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tarball.ImageFromPath(path, &tag)
	if err != nil {
		t.Fatalf("reading %s as %s: %v", path, ref, err)
	}
	if g, w := configName(t, got), configName(t, want); g != w {
		t.Errorf("%s holds config %s, want %s", path, g, w)
	}
	if diff := cmp.Diff(diffIDs(t, want), diffIDs(t, got)); diff != "" {
		t.Errorf("%s layers (-want +got):\n%s", path, diff)
	}
}

// checkPulled pulls the index from the registry: the same index and
// images by digest as were built. It returns the pulled image.
func checkPulled(t *testing.T, ref string, img Image) v1.Image {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(r)
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	if got, want := digest(t, idx), digest(t, img.Index); got != want {
		t.Errorf("pulled index %s, pushed %s", got, want)
	}
	want := img.Platforms[0]
	pulled, err := remote.Image(r, remote.WithPlatform(want.Platform))
	if err != nil {
		t.Fatalf("pulling %s for %s: %v", ref, want.Platform, err)
	}
	if got, w := digest(t, pulled), digest(t, want.Image); got != w {
		t.Errorf("pulled image %s, pushed %s", got, w)
	}
	return pulled
}

func checkConfig(t *testing.T, binary string, img v1.Image, p v1.Platform, created time.Time) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != p.OS || cf.Architecture != p.Architecture {
		t.Errorf("config is for %s/%s, want %s", cf.OS, cf.Architecture, p)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("runs as %q, want the non-root 65532:65532 the chart's securityContext names", cf.Config.User)
	}
	if diff := cmp.Diff([]string{"/usr/local/bin/" + binary}, cf.Config.Entrypoint); diff != "" {
		t.Errorf("entrypoint (-want +got):\n%s", diff)
	}
	if len(cf.Config.Cmd) != 0 {
		t.Errorf("cmd %q, want none: the chart passes args", cf.Config.Cmd)
	}
	want := map[string]string{
		"org.opencontainers.image.title":    binary,
		"org.opencontainers.image.version":  testVersion,
		"org.opencontainers.image.revision": testRevision,
		"org.opencontainers.image.source":   "https://github.com/carve-dev/carve",
		"org.opencontainers.image.created":  "2023-11-14T22:13:20Z",
	}
	if diff := cmp.Diff(want, cf.Config.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if !cf.Created.Equal(created) {
		t.Errorf("created %s, want the source date %s", cf.Created, created)
	}
}

// unpack extracts img's layers in order into a new folder and returns it.
// Every entry must carry the source date and be owned by root, except the
// user's home.
func unpack(t *testing.T, img v1.Image, created time.Time) string {
	t.Helper()
	dir := t.TempDir()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		hdrs, err := untar(rc, dir)
		rc.Close()
		if err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		for _, h := range hdrs {
			if !h.ModTime.Equal(created) {
				t.Errorf("layer %d: %s has time %s, want %s", i, h.Name, h.ModTime, created)
			}
			if owner := fmt.Sprintf("%d:%d", h.Uid, h.Gid); owner != "0:0" && h.Name != "home/nonroot/" {
				t.Errorf("layer %d: %s is owned by %s, want root", i, h.Name, owner)
			}
		}
	}
	return dir
}

// untar extracts the folders and regular files of a tar stream (all a
// carve image holds) under dir, refusing anything else or any path out of
// dir. It returns the headers.
func untar(r io.Reader, dir string) ([]*tar.Header, error) {
	var hdrs []*tar.Header
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return hdrs, nil
		}
		if err != nil {
			return hdrs, err
		}
		hdrs = append(hdrs, h)
		rel := filepath.Clean(filepath.FromSlash(h.Name))
		if !filepath.IsLocal(rel) {
			return hdrs, fmt.Errorf("entry %q leaves the root", h.Name)
		}
		path := filepath.Join(dir, rel)
		switch h.Typeflag {
		case tar.TypeDir:
			// Owner-writable here whatever the mode, so later entries fit.
			if err := os.MkdirAll(path, os.FileMode(h.Mode&0o777)|0o700); err != nil {
				return hdrs, err
			}
		case tar.TypeReg:
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode&0o777))
			if err != nil {
				return hdrs, err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return hdrs, err
			}
		default:
			return hdrs, fmt.Errorf("entry %q has type %q; carve's images hold only folders and files", h.Name, h.Typeflag)
		}
	}
}

// checkRuns runs the unpacked binary: static (the base has no libc),
// --help exits 0, --version names the stamped version, and
// carve-cloudprovider carries its CA roots.
func checkRuns(t *testing.T, binary, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s asks for a dynamic loader; the image has none", binary)
		}
	}
	f.Close()
	if out, err := exec.Command(path, "--help").CombinedOutput(); err != nil {
		t.Errorf("%s --help: %v\n%s", binary, err, out)
	}
	out, err := exec.Command(path, "--version").CombinedOutput()
	if err != nil {
		t.Errorf("%s --version: %v\n%s", binary, err, out)
	}
	want := binary + " " + testVersion + " (revision " + testRevision + ", built 2023-11-14T22:13:20Z,"
	if binary == "carve-scheduler" {
		// kube-scheduler's own flag: the Kubernetes version it is, with
		// carve's as build metadata.
		want = "+carve-" + testVersion + "\n"
	}
	if !strings.Contains(string(out), want) {
		t.Errorf("%s --version printed %q, want it to contain %q", binary, out, want)
	}
	if binary == "carve-scheduler" {
		raw, err := exec.Command(path, "--version=raw").CombinedOutput()
		if err != nil || !strings.Contains(string(raw), `GitCommit:"`+testRevision+`"`) {
			t.Errorf("%s --version=raw: %v %s, want GitCommit %s", binary, err, raw, testRevision)
		}
	}
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	hasRoots := false
	for _, d := range bi.Deps {
		hasRoots = hasRoots || d.Path == "golang.org/x/crypto/x509roots/fallback"
	}
	if want := binary == "carve-cloudprovider"; hasRoots != want {
		t.Errorf("%s has compiled-in CA roots: %v, want %v", binary, hasRoots, want)
	}
}

// checkReproducible makes the image again from the same binary: the same
// digest, so only the binary's bytes decide the image's (and -trimpath
// makes those the same on every machine).
func checkReproducible(t *testing.T, work, binary string, p v1.Platform, want v1.Image, created time.Time) {
	t.Helper()
	again := t.TempDir()
	base, err := writeLayer(filepath.Join(again, "base.tar.gz"), created, baseEntries())
	if err != nil {
		t.Fatal(err)
	}
	bin, err := writeLayer(filepath.Join(again, binary+".tar.gz"), created, binaryEntries(binary, filepath.Join(work, p.OS+"-"+p.Architecture, binary)))
	if err != nil {
		t.Fatal(err)
	}
	img, err := newImage(binary, p, base, bin, Labels(binary, testVersion, testRevision, created), created)
	if err != nil {
		t.Fatal(err)
	}
	if got, w := digest(t, img), digest(t, want); got != w {
		t.Errorf("the same binary made image %s, then %s", w, got)
	}
}

func digest(t *testing.T, d interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func configName(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func diffIDs(t *testing.T, img v1.Image) []v1.Hash {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cf.RootFS.DiffIDs
}
