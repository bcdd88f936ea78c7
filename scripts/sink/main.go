// Command sink is a webhook receiver for trying Hourglass locally: it
// listens on 127.0.0.1:9000 (the address the README's and docs' examples use), prints
// every delivery — task ID, attempt, idempotency key, whether the signature
// verifies with the dev key — and answers 204, or the status given with
// -status to watch retries and dead-lettering.
//
//	go run ./scripts/sink                # in one terminal, beside make dev
//	go run ./scripts/sink -status 500    # every delivery fails
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/target/webhook"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "listen address (loopback)")
	status := flag.Int("status", http.StatusNoContent, "status code to answer")
	key := flag.String("signing-key", "hourglass-dev-signing-key", "master signing key of the host (make dev's default)")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	ip := net.ParseIP(host)
	if err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
		fmt.Fprintln(os.Stderr, "sink: -addr must be a loopback address")
		os.Exit(2)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		sig := "unsigned"
		if r.Header.Get(webhook.HeaderSignature) != "" {
			// The tenant is not on the request: try the signature against
			// the tenant named by the dev token in the examples, "acme".
			tenant := r.URL.Query().Get("tenant")
			if tenant == "" {
				tenant = "acme"
			}
			if err := webhook.Verify(webhook.DeriveSecret([]byte(*key), tenant), r.Header.Get(webhook.HeaderTimestamp), body, r.Header.Get(webhook.HeaderSignature), time.Now(), 0); err != nil {
				sig = "signature does not verify for tenant " + tenant + ": " + err.Error()
			} else {
				sig = "signature ok (tenant " + tenant + ")"
			}
		}
		log.Printf("%s %s task=%s attempt=%s key=%s %s body=%s", r.Method, r.URL.Path, r.Header.Get(webhook.HeaderTaskID),
			r.Header.Get(webhook.HeaderAttempt), r.Header.Get(webhook.HeaderIdempotencyKey), sig, strings.TrimSpace(string(body)))
		w.WriteHeader(*status)
	})
	log.Printf("sink: listening on http://%s, answering %d", *addr, *status)
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
