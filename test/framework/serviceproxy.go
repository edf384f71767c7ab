package framework

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// ServiceProxy stands in for a Service in front of replicas, as kube-proxy
// makes one: each TCP connection goes to one ready backend, round robin,
// and stays with it; a backend leaves the rotation when its readiness URL
// stops answering 200 (as its endpoint would turn not ready), so a
// replica's own shutdown is what the proxy sees. A change of readiness
// takes effect only after a lag, as an endpoint change takes a while to
// reach every kube-proxy. With no ready backend a connection is closed at
// once, as a Service without endpoints refuses.
type ServiceProxy struct {
	ln       net.Listener
	backends []*proxyBackend
	next     atomic.Uint64
}

type proxyBackend struct {
	addr, readyURL string
	ready          atomic.Bool // what the proxy routes by
	// seen and seenSince: the last probe's answer and since when it has
	// given it; only the probe loop touches them.
	seen      bool
	seenSince time.Time
}

// Backend is one replica: where to send connections, and its readiness URL
// (plain HTTP).
type Backend struct{ Addr, ReadyURL string }

// StartServiceProxy listens on a free loopback port and probes each
// backend's readiness every period until ctx ends; a change is routed by
// lag after the probe first saw it.
func StartServiceProxy(ctx context.Context, period, lag time.Duration, backends ...Backend) (*ServiceProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &ServiceProxy{ln: ln}
	for _, b := range backends {
		p.backends = append(p.backends, &proxyBackend{addr: b.Addr, readyURL: b.ReadyURL})
	}
	probe := &http.Client{Timeout: period}
	go func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			for _, b := range p.backends {
				resp, err := probe.Get(b.readyURL)
				ok := err == nil && resp.StatusCode == http.StatusOK
				if resp != nil {
					resp.Body.Close()
				}
				now := time.Now()
				if ok != b.seen || b.seenSince.IsZero() {
					b.seen, b.seenSince = ok, now
				}
				if now.Sub(b.seenSince) >= lag {
					b.ready.Store(b.seen)
				}
			}
			select {
			case <-ctx.Done():
				_ = ln.Close()
				return
			case <-t.C:
			}
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p, nil
}

// Addr is host:port of the proxy.
func (p *ServiceProxy) Addr() string { return p.ln.Addr().String() }

// Ready reports which backends are in rotation, in the order given.
func (p *ServiceProxy) Ready() []bool {
	out := make([]bool, len(p.backends))
	for i, b := range p.backends {
		out[i] = b.ready.Load()
	}
	return out
}

func (p *ServiceProxy) serve(c net.Conn) {
	defer c.Close()
	n := uint64(len(p.backends))
	start := p.next.Add(1)
	for i := uint64(0); i < n; i++ {
		b := p.backends[(start+i)%n]
		if !b.ready.Load() {
			continue
		}
		up, err := net.DialTimeout("tcp", b.addr, time.Second)
		if err != nil {
			return // a Service does not retry another endpoint either
		}
		defer up.Close()
		done := make(chan struct{}, 2)
		go func() { _, _ = io.Copy(up, c); closeWrite(up); done <- struct{}{} }()
		go func() { _, _ = io.Copy(c, up); closeWrite(c); done <- struct{}{} }()
		<-done
		<-done
		return
	}
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}
