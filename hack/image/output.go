package image

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// refName is the OCI layout annotation that tags an index.
const refName = "org.opencontainers.image.ref.name"

// LayoutDir is the OCI layout of binary's index under dir.
func LayoutDir(dir, binary string) string { return filepath.Join(dir, binary) }

// TarballPath is the docker-load tarball of binary's image for p under dir.
func TarballPath(dir, binary string, p v1.Platform) string {
	return filepath.Join(dir, binary+"-"+p.OS+"-"+p.Architecture+".tar")
}

// Write stores images under dir: each binary's index as an OCI layout,
// LayoutDir, tagged tag, and each platform's image as a tarball for
// docker load, TarballPath, named Reference(registry, binary, tag). It
// replaces what an earlier Write left there.
func Write(dir, registry, tag string, images []Image) error {
	for _, img := range images {
		ref, err := name.NewTag(Reference(registry, img.Binary, tag))
		if err != nil {
			return fmt.Errorf("naming the %s image: %w", img.Binary, err)
		}
		ld := LayoutDir(dir, img.Binary)
		if err := os.RemoveAll(ld); err != nil {
			return err
		}
		p, err := layout.Write(ld, empty.Index)
		if err != nil {
			return fmt.Errorf("writing the %s layout: %w", img.Binary, err)
		}
		if err := p.AppendIndex(img.Index, layout.WithAnnotations(map[string]string{refName: tag})); err != nil {
			return fmt.Errorf("writing the %s layout: %w", img.Binary, err)
		}
		for _, pi := range img.Platforms {
			path := TarballPath(dir, img.Binary, pi.Platform)
			if err := tarball.WriteToFile(path, ref, pi.Image); err != nil {
				return fmt.Errorf("writing %s: %w", path, err)
			}
		}
	}
	return nil
}

// ReadIndex is binary's index tagged tag in its layout under dir.
func ReadIndex(dir, binary, tag string) (v1.ImageIndex, error) {
	ld := LayoutDir(dir, binary)
	ii, err := layout.ImageIndexFromPath(ld)
	if err != nil {
		return nil, fmt.Errorf("reading the %s layout (make images writes it): %w", binary, err)
	}
	m, err := ii.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading the %s layout: %w", binary, err)
	}
	for _, d := range m.Manifests {
		if d.Annotations[refName] == tag {
			return ii.ImageIndex(d.Digest)
		}
	}
	return nil, fmt.Errorf("the %s layout has no index tagged %q; make images with that TAG", ld, tag)
}

// Push pushes each binary's index tagged tag from the layouts under dir
// to Reference(registry, binary, tag), and returns what it pushed as
// references by digest.
func Push(ctx context.Context, dir, registry, tag string, binaries []string, opts ...remote.Option) ([]string, error) {
	var pushed []string
	for _, b := range binaries {
		idx, err := ReadIndex(dir, b, tag)
		if err != nil {
			return pushed, err
		}
		ref, err := name.NewTag(Reference(registry, b, tag))
		if err != nil {
			return pushed, fmt.Errorf("naming the %s image: %w", b, err)
		}
		if err := remote.WriteIndex(ref, idx, append([]remote.Option{remote.WithContext(ctx)}, opts...)...); err != nil {
			return pushed, fmt.Errorf("pushing %s: %w", ref, err)
		}
		d, err := idx.Digest()
		if err != nil {
			return pushed, err
		}
		pushed = append(pushed, ref.Context().Digest(d.String()).String())
	}
	return pushed, nil
}
