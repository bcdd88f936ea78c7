package awstest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// TestConfigHonoursServiceEndpointAndHeader checks, without an emulator, that
// a per-service endpoint variable beats the base endpoint and that every
// request carries the moto account header.
func TestConfigHonoursServiceEndpointAndHeader(t *testing.T) {
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.Header.Clone():
		default:
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = w.Write([]byte(`{"QueueUrls":[]}`))
	}))
	defer srv.Close()
	// Not parallel: t.Setenv.
	t.Setenv("AWS_ENDPOINT_URL_SQS", srv.URL)
	t.Setenv("AWS_REGION", "eu-west-3")          // must not matter: the region is fixed
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEY") // nor may real keys leak in
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")

	hc, closeIdle := newHTTPClient(10 * time.Second)
	defer closeIdle()
	cfg, err := loadConfig(context.Background(), "http://127.0.0.1:9", "111122223333", hc)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if cfg.Region != Region {
		t.Errorf("Region = %q, want %q", cfg.Region, Region)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "test" || creds.SecretAccessKey != "test" {
		t.Errorf("credentials = %+v, %v; want test/test", creds, err)
	}
	if _, err := sqs.NewFromConfig(cfg).ListQueues(context.Background(), &sqs.ListQueuesInput{}); err != nil {
		t.Fatalf("ListQueues via AWS_ENDPOINT_URL_SQS: %v", err)
	}
	if h := <-got; h.Get(MotoAccountHeader) != "111122223333" {
		t.Errorf("%s = %q, want 111122223333", MotoAccountHeader, h.Get(MotoAccountHeader))
	}
}
