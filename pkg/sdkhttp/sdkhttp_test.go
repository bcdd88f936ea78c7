package sdkhttp_test

import (
	"bytes"
	"context"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hourglass-sched/hourglass/pkg/sdkhttp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestAnswerDuringRequestDrainIsKept replays, in a fixed order, the race the
// emulator tests hit by chance: the server answers a PutItem as soon as it
// has the request's bytes, smithy-go closes the request body when the
// response headers are in, and only then does net/http's request writer,
// paused here between its two copies, drain the body. The response body
// comes after that. Without PlainRequestBody the drain fails with io.EOF,
// net/http closes the connection under the response, the call fails and a
// retryer would send the applied write again.
func TestAnswerDuringRequestDrainIsKept(t *testing.T) {
	t.Parallel()
	srv, client := setup(t, sdkhttp.PlainRequestBody)

	_, err := client.PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName: aws.String("t"),
		Item:      map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "a"}},
	})
	require.NoError(t, err, "the answer to an applied write was lost")
	require.EqualValues(t, 1, srv.requests.Load(), "requests the server saw")
	require.EqualValues(t, 1, srv.dials.Load(), "connections opened: the one under the answer was closed")
}

// raceServer is a DynamoDB stand-in and a client connection that together
// force the order described on TestAnswerDuringRequestDrainIsKept.
type raceServer struct {
	requests atomic.Int32
	dials    atomic.Int32

	bodyClosed chan struct{} // the caller closed the request body
	connClosed chan struct{} // net/http closed the client connection
	closeOnce  sync.Once
}

// answer is the PutItem response: headers at once, the body only once the
// client connection is closed or has had time to be.
func (s *raceServer) answer(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	_, _ = io.Copy(io.Discard, r.Body)
	body := []byte(`{}`)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	// With the bug the connection is closed within microseconds of the
	// drain; without it nothing happens, and 100 ms is long enough to say so.
	select {
	case <-s.connClosed:
	case <-time.After(100 * time.Millisecond):
	case <-r.Context().Done():
	}
	_, _ = w.Write(body)
}

// pausingConn holds net/http's request writer after it has written the
// request body, before the drain, until the caller has closed the body.
type pausingConn struct {
	net.Conn
	srv   *raceServer
	pause sync.Once
}

func (c *pausingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	// net/http flushes the headers on their own (they end in a blank
	// line) before it copies a body it cannot tell is in memory.
	if !bytes.HasSuffix(p, []byte("\r\n\r\n")) {
		c.pause.Do(func() {
			select {
			case <-c.srv.bodyClosed:
			case <-time.After(5 * time.Second):
			}
		})
	}
	return n, err
}

func (c *pausingConn) Close() error {
	c.srv.closeOnce.Do(func() { close(c.srv.connClosed) })
	return c.Conn.Close()
}

// closingClient closes the request body as soon as Do returns, as
// smithy-go's ClientHandler does, and says so.
type closingClient struct {
	hc  *http.Client
	srv *raceServer
}

func (c closingClient) Do(r *http.Request) (*http.Response, error) {
	resp, err := c.hc.Do(r)
	if r.Body != nil {
		_ = r.Body.Close()
	}
	select {
	case <-c.srv.bodyClosed:
	default:
		close(c.srv.bodyClosed)
	}
	return resp, err
}

func setup(t *testing.T, apiOptions ...func(*middleware.Stack) error) (*raceServer, *dynamodb.Client) {
	t.Helper()
	srv := &raceServer{bodyClosed: make(chan struct{}), connClosed: make(chan struct{})}
	ts := httptest.NewServer(http.HandlerFunc(srv.answer))
	t.Cleanup(ts.Close)

	var d net.Dialer
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		srv.dials.Add(1)
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &pausingConn{Conn: conn, srv: srv}, nil
	}}
	t.Cleanup(tr.CloseIdleConnections)

	client := dynamodb.New(dynamodb.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(ts.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:       closingClient{hc: &http.Client{Transport: tr}, srv: srv},
		RetryMaxAttempts: 1, // one attempt: the test is about the first answer
		APIOptions:       apiOptions,
	})
	return srv, client
}
