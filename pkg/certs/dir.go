package certs

import (
	"bytes"
	"context"
	"path/filepath"
	"time"

	"k8s.io/klog/v2"
)

// Dir serves certificates that something else keeps in a folder (a
// mounted Secret from cert-manager, say): ca.crt, tls.crt and tls.key. It
// reads them again every Interval, as the kubelet swaps the files of a
// mounted Secret without notice.
type Dir struct {
	Path string
	// Interval between reads; ten seconds when zero.
	Interval time.Duration

	holder
}

// Load reads the folder once; Start does so again every Interval.
func (d *Dir) Load() error {
	b, err := Read(d.Path)
	if err != nil {
		return err
	}
	old := d.serving.Load()
	if old != nil && bytes.Equal(old.state.Serving.CertPEM, b.Cert) && bytes.Equal(old.state.TrustPEM(), b.CA) {
		return nil
	}
	leaf, err := ParseKeyPair(b.Cert, b.Key)
	if err != nil {
		return err
	}
	trust, err := ParseCertificates(b.CA)
	if err != nil {
		return err
	}
	cert, err := leaf.TLS()
	if err != nil {
		return err
	}
	d.serving.Store(&served{state: &State{Trust: trust, Serving: leaf}, cert: cert})
	d.changed.notify()
	return nil
}

// NeedLeaderElection is false: every replica serves.
func (d *Dir) NeedLeaderElection() bool { return false }

// Start re-reads the folder until ctx ends.
func (d *Dir) Start(ctx context.Context) error {
	every := d.Interval
	if every <= 0 {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := d.Load(); err != nil {
				klog.FromContext(ctx).Error(err, "Reading the webhook certificates", "dir", filepath.Clean(d.Path))
			}
		}
	}
}
