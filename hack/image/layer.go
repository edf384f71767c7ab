package image

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// entry is one folder or file of a layer, owned by uid:gid.
type entry struct {
	path     string // relative to the root, folders ending in "/"
	mode     int64
	uid, gid int
	data     []byte // a file's contents, or
	src      string // a file to copy them from
}

// nonroot is the user the images run as (distroless calls it nonroot).
const nonroot = 65532

// baseEntries are the same in every image and platform, so registries and
// nodes store them once: user and group files naming nonroot (for tools
// that look names up), its home folder and a /tmp for runs with a
// writable root. carve's Deployments set readOnlyRootFilesystem and mount
// what they write to, so nothing relies on /tmp.
func baseEntries() []entry {
	return []entry{
		{path: "etc/", mode: 0o755},
		{path: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{path: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{path: "home/", mode: 0o755},
		{path: "home/nonroot/", mode: 0o700, uid: nonroot, gid: nonroot},
		{path: "tmp/", mode: 0o1777},
	}
}

// binaryEntries put the binary at src into BinDir, owned by root so the
// user it runs as cannot change it.
func binaryEntries(binary, src string) []entry {
	return []entry{
		{path: "usr/", mode: 0o755},
		{path: "usr/local/", mode: 0o755},
		{path: "usr/local/bin/", mode: 0o755},
		{path: "usr/local/bin/" + binary, mode: 0o755, src: src},
	}
}

// writeLayer writes entries as a gzipped tar to path and returns the
// layer read back from it. Every time in it is mtime and nothing of the
// machine (user names, access times) gets in, so the same entries always
// make the same digest.
func writeLayer(path string, mtime time.Time, entries []entry) (v1.Layer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("writing a layer: %w", err)
	}
	err = writeTarGz(f, mtime, entries)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("writing layer %s: %w", path, err)
	}
	return tarball.LayerFromFile(path, tarball.WithMediaType(types.OCILayer))
}

func writeTarGz(w io.Writer, mtime time.Time, entries []entry) error {
	zw := gzip.NewWriter(w) // no name or time in the gzip header
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		if err := writeEntry(tw, mtime, e); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

func writeEntry(tw *tar.Writer, mtime time.Time, e entry) error {
	h := &tar.Header{
		Name:    e.path,
		Mode:    e.mode,
		Uid:     e.uid,
		Gid:     e.gid,
		ModTime: mtime,
		Format:  tar.FormatPAX,
	}
	if e.path[len(e.path)-1] == '/' {
		h.Typeflag = tar.TypeDir
		return tw.WriteHeader(h)
	}
	h.Typeflag = tar.TypeReg
	if e.src == "" {
		h.Size = int64(len(e.data))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(e.data)
		return err
	}
	f, err := os.Open(e.src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	h.Size = fi.Size()
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("copying %s into the layer: %w", e.src, err)
	}
	return nil
}
