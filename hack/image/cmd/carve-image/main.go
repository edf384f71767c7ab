// Command carve-image builds carve's images (build) and pushes them
// (push); `make images` and `make push` run it. See package image and
// docs/images.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/carve-dev/carve/hack/image"
)

const usage = `usage: carve-image build|push [flags]; carve-image <command> -h lists the flags`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	switch os.Args[1] {
	case "build":
		err = build(ctx, os.Args[2:])
	case "push":
		err = push(ctx, os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "carve-image:", err)
		os.Exit(1)
	}
}

// common are the flags of both commands.
type common struct {
	root, out, registry, tag, binaries string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.root, "root", ".", "the repository")
	fs.StringVar(&c.out, "out", "bin/images", "where the OCI layouts and tarballs are")
	fs.StringVar(&c.registry, "registry", image.DefaultRegistry, "registry (and namespace) the images are named in")
	fs.StringVar(&c.tag, "tag", "", "image tag (default: the chart's appVersion)")
	fs.StringVar(&c.binaries, "binaries", strings.Join(image.Binaries, ","), "comma-separated binaries")
}

func (c *common) complete() error {
	if c.tag != "" {
		return nil
	}
	var err error
	c.tag, err = image.ChartAppVersion(c.root)
	return err
}

func build(ctx context.Context, args []string) error {
	var c common
	fs := flag.NewFlagSet("carve-image build", flag.ExitOnError)
	c.register(fs)
	platforms := fs.String("platforms", "linux/amd64,linux/arm64", "comma-separated platforms")
	goCmd := fs.String("go", "go", "the go command that compiles")
	ldflags := fs.String("ldflags", "", "the version stamps (the Makefile's LDFLAGS)")
	version := fs.String("version", "", "the version label")
	revision := fs.String("revision", "", "the revision label")
	epoch := fs.String("source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "seconds since 1970 for every time in the images (the commit's)")
	_ = fs.Parse(args)
	if err := c.complete(); err != nil {
		return err
	}
	secs, err := strconv.ParseInt(*epoch, 10, 64)
	if err != nil {
		return fmt.Errorf("-source-date-epoch=%q: %w", *epoch, err)
	}
	var ps []v1.Platform
	for _, s := range strings.Split(*platforms, ",") {
		p, err := v1.ParsePlatform(s)
		if err != nil {
			return fmt.Errorf("-platforms: %w", err)
		}
		ps = append(ps, *p)
	}
	work := filepath.Join(c.out, ".work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(work)
	start := time.Now()
	images, err := image.Build(ctx, image.Options{
		Root:      c.root,
		Go:        *goCmd,
		Binaries:  strings.Split(c.binaries, ","),
		Platforms: ps,
		LDFlags:   *ldflags,
		Version:   *version,
		Revision:  *revision,
		Created:   time.Unix(secs, 0),
		WorkDir:   work,
		Logf: func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "carve-image: "+format+"\n", args...)
		},
	})
	if err != nil {
		return err
	}
	if err := image.Write(c.out, c.registry, c.tag, images); err != nil {
		return err
	}
	for _, img := range images {
		d, err := img.Index.Digest()
		if err != nil {
			return err
		}
		fmt.Printf("%s@%s (%s) in %s\n", image.Reference(c.registry, img.Binary, c.tag), d, *platforms, image.LayoutDir(c.out, img.Binary))
	}
	fmt.Printf("built in %s\n", time.Since(start).Round(time.Second))
	return nil
}

func push(ctx context.Context, args []string) error {
	var c common
	fs := flag.NewFlagSet("carve-image push", flag.ExitOnError)
	c.register(fs)
	_ = fs.Parse(args)
	if err := c.complete(); err != nil {
		return err
	}
	// The default keychain reads docker's config.json and its credential
	// helpers, as docker login and podman login --authfile write them.
	pushed, err := image.Push(ctx, c.out, c.registry, c.tag, strings.Split(c.binaries, ","), remote.WithAuthFromKeychain(authn.DefaultKeychain))
	for _, p := range pushed {
		fmt.Println("pushed", p)
	}
	return err
}
