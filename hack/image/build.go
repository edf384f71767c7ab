package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Options say what Build builds.
type Options struct {
	// Root is the repository: the module whose cmd/<binary> are built.
	Root string
	// Binaries are the commands to build; Binaries (all) when empty.
	Binaries []string
	// Platforms to build for, e.g. linux/amd64 and linux/arm64.
	Platforms []v1.Platform
	// Go is the go command that compiles; "go" when empty.
	Go string
	// LDFlags stamp the versions: the Makefile's LDFLAGS. Build adds -s -w.
	LDFlags string
	// Version and Revision are the images' version and revision labels;
	// they should be what LDFlags stamp.
	Version, Revision string
	// Created is every file's time in the layers and the images' created
	// time: the commit's (SOURCE_DATE_EPOCH), so a commit always builds
	// the same images.
	Created time.Time
	// WorkDir receives the binaries and layer files. The images read
	// their layers from it: keep it until they are written or pushed.
	WorkDir string
	// Logf, when set, is told what Build is doing.
	Logf func(format string, args ...any)
}

// Build compiles the binaries for each platform and makes their images.
func Build(ctx context.Context, o Options) ([]Image, error) {
	if len(o.Binaries) == 0 {
		o.Binaries = Binaries
	}
	if len(o.Platforms) == 0 {
		return nil, errors.New("building images: no platform given")
	}
	if o.Version == "" || o.Revision == "" {
		return nil, errors.New("building images: the version and revision labels are empty")
	}
	if o.Go == "" {
		o.Go = "go"
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	created := o.Created.UTC()
	base, err := writeLayer(filepath.Join(o.WorkDir, "base.tar.gz"), created, baseEntries())
	if err != nil {
		return nil, err
	}
	images := make([]Image, len(o.Binaries))
	for i, b := range o.Binaries {
		images[i].Binary = b
	}
	for _, p := range o.Platforms {
		dir := filepath.Join(o.WorkDir, p.OS+"-"+p.Architecture)
		o.Logf("building %s for %s", strings.Join(o.Binaries, ", "), p)
		if err := compile(ctx, o.Go, o.Root, dir, p, o.LDFlags, o.Binaries); err != nil {
			return nil, err
		}
		for i, b := range o.Binaries {
			bin, err := writeLayer(filepath.Join(dir, b+".tar.gz"), created, binaryEntries(b, filepath.Join(dir, b)))
			if err != nil {
				return nil, err
			}
			img, err := newImage(b, p, base, bin, Labels(b, o.Version, o.Revision, created), created)
			if err != nil {
				return nil, fmt.Errorf("making the %s image of %s: %w", p, b, err)
			}
			images[i].Platforms = append(images[i].Platforms, PlatformImage{Platform: p, Image: img})
		}
	}
	for i := range images {
		idx, err := newIndex(images[i].Platforms, Labels(images[i].Binary, o.Version, o.Revision, created))
		if err != nil {
			return nil, fmt.Errorf("making the index of %s: %w", images[i].Binary, err)
		}
		images[i].Index = idx
	}
	return images, nil
}

// compile builds ./cmd/<binary> for p into dir: static (no cgo, as the
// base has no libc), without paths of this machine (-trimpath) or debug
// information (-s -w: a third smaller; panics still name functions and
// lines).
func compile(ctx context.Context, goCmd, root, dir string, p v1.Platform, ldflags string, binaries []string) error {
	if p.OS != "linux" || (p.Variant != "" && !(p.Architecture == "arm64" && p.Variant == "v8")) {
		return fmt.Errorf("building for %s: only linux platforms without a variant are supported", p)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	args := []string{"build", "-trimpath", "-ldflags", strings.TrimSpace("-s -w " + ldflags), "-o", dir + string(filepath.Separator)}
	for _, b := range binaries {
		args = append(args, "./cmd/"+b)
	}
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s for %s: %w\n%s", strings.Join(binaries, ", "), p, err, out)
	}
	return nil
}
