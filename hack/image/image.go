package image

import (
	"fmt"
	"path"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BinDir is where an image holds its binary.
const BinDir = "/usr/local/bin"

// User is who the images run as: not root, and the same uid:gid the
// chart's pod securityContext names.
const User = "65532:65532"

// Entrypoint is the path of binary in its image.
func Entrypoint(binary string) string { return path.Join(BinDir, binary) }

// Labels are the OCI labels (and index annotations) of binary's image.
func Labels(binary, version, revision string, created time.Time) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":    binary,
		"org.opencontainers.image.version":  version,
		"org.opencontainers.image.revision": revision,
		"org.opencontainers.image.source":   Source,
		"org.opencontainers.image.created":  created.UTC().Format(time.RFC3339),
	}
}

// Image is one binary's images, one per platform, and the index over them.
type Image struct {
	Binary string
	Index  v1.ImageIndex
	// Platforms are the index's images in the order they were asked for.
	Platforms []PlatformImage
}

// PlatformImage is the image of one platform.
type PlatformImage struct {
	Platform v1.Platform
	Image    v1.Image
}

// newImage is binary's image for p: the base layer, then the layer with
// the binary, which runs as User.
func newImage(binary string, p v1.Platform, base, bin v1.Layer, labels map[string]string, created time.Time) (v1.Image, error) {
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.ConfigFile(img, &v1.ConfigFile{
		Created:      v1.Time{Time: created},
		OS:           p.OS,
		Architecture: p.Architecture,
		Variant:      p.Variant,
		Config: v1.Config{
			Entrypoint: []string{Entrypoint(binary)},
			User:       User,
			Env:        []string{"PATH=" + BinDir},
			WorkingDir: "/",
			Labels:     labels,
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "carve image: /etc/passwd, /etc/group, /home/nonroot, /tmp"}},
		mutate.Addendum{Layer: bin, History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "carve image: " + Entrypoint(binary)}},
	)
}

// newIndex gathers the platform images of one binary.
func newIndex(images []PlatformImage, annotations map[string]string) (v1.ImageIndex, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, pi := range images {
		p := pi.Platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: pi.Image, Descriptor: v1.Descriptor{Platform: &p}})
	}
	idx, ok := mutate.Annotations(idx, annotations).(v1.ImageIndex)
	if !ok {
		return nil, fmt.Errorf("annotating an index gave no index")
	}
	return idx, nil
}
