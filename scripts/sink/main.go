// Command sink is a webhook receiver for trying Hourglass locally: it
// listens on 127.0.0.1:9000 (the address the README's and docs' examples use), prints
// every delivery — task ID, attempt, webhook-id, whether the Standard
// Webhooks signature verifies with the tenant's secret — and answers 204,
// or the status given with -status to watch retries and dead-lettering.
//
// The secret is -secret ("whsec_…"), or else read from the API with the
// tenant's dev token (GET /v1/signing-secret on -api as -tenant, make
// dev's address and the examples' tenant by default) at the first
// delivery, and again when a signature does not verify (a rotation).
//
//	go run ./scripts/sink                # in one terminal, beside make dev
//	go run ./scripts/sink -status 500    # every delivery fails
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/client"
	"github.com/hourglass-sched/hourglass/pkg/target/webhook"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "listen address (loopback)")
	status := flag.Int("status", http.StatusNoContent, "status code to answer")
	secret := flag.String("secret", "", `the tenant's signing secret ("whsec_…"); empty: read it from -api`)
	apiURL := flag.String("api", "http://127.0.0.1:8080", "Hourglass API to read the tenant's signing secret from (make dev's address)")
	tenant := flag.String("tenant", "acme", "tenant whose secret verifies deliveries (dev token \"Bearer dev-<tenant>\")")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	ip := net.ParseIP(host)
	if err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
		fmt.Fprintln(os.Stderr, "sink: -addr must be a loopback address")
		os.Exit(2)
	}
	keys := &keySource{fixed: *secret, api: *apiURL, tenant: *tenant}
	if *secret != "" {
		if _, err := webhook.ParseSecret(*secret); err != nil {
			fmt.Fprintln(os.Stderr, "sink: -secret:", err)
			os.Exit(2)
		}
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		log.Printf("%s %s task=%s attempt=%s webhook-id=%s %s body=%s", r.Method, r.URL.Path, r.Header.Get(webhook.HeaderTaskID),
			r.Header.Get(webhook.HeaderAttempt), r.Header.Get(webhook.HeaderWebhookID), keys.check(r.Header, body), strings.TrimSpace(string(body)))
		w.WriteHeader(*status)
	})
	log.Printf("sink: listening on http://%s, answering %d", *addr, *status)
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// keySource holds the key deliveries are checked with.
type keySource struct {
	fixed, api, tenant string
	mu                 sync.Mutex
	key                []byte
}

// check says whether a delivery's signature verifies.
func (k *keySource) check(h http.Header, body []byte) string {
	if h.Get(webhook.HeaderWebhookSignature) == "" {
		return "unsigned"
	}
	verify := func(key []byte) error {
		return webhook.Verify(key, h.Get(webhook.HeaderWebhookID), h.Get(webhook.HeaderWebhookTimestamp), body, h.Get(webhook.HeaderWebhookSignature), time.Now(), 0)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.key != nil && verify(k.key) == nil {
		return "signature ok (tenant " + k.tenant + ")"
	}
	key, err := k.load()
	if err != nil {
		return "signature not checked: " + err.Error()
	}
	k.key = key
	if err := verify(key); err != nil {
		return "signature does not verify for tenant " + k.tenant + ": " + err.Error()
	}
	return "signature ok (tenant " + k.tenant + ")"
}

func (k *keySource) load() ([]byte, error) {
	if k.fixed != "" {
		return webhook.ParseSecret(k.fixed)
	}
	c, err := client.New(k.api, client.Options{DevTenant: k.tenant, MaxRetries: -1})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sec, err := c.SigningSecret(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the secret from %s: %w", k.api, err)
	}
	return webhook.ParseSecret(sec.Secret)
}
