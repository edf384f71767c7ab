// Command allowall is the floor that carve's webhook latency is measured
// against: an HTTPS server, configured like carve's, that answers every
// review "allowed" without decoding it. It is a benchmark tool, not shipped.
package main

import (
	"crypto/tls"
	"flag"
	"io"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9444", "listen address")
	cert := flag.String("cert", "tls.crt", "certificate")
	key := flag.String("key", "tls.key", "key")
	read := flag.Bool("read-body", false, "read the whole review before answering, as every real webhook must")
	flag.Parse()
	body := []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"","allowed":true}}`)
	srv := &http.Server{
		Addr: *addr,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if *read {
				_, _ = io.Copy(io.Discard, r.Body)
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		}),
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2"}},
	}
	log.Fatal(srv.ListenAndServeTLS(*cert, *key))
}
