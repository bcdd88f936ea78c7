package e2e_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/sdkhttp"
	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
)

// defaultAccountConfig is an SDK config for the emulator's default account,
// where the Lambda binaries under RIE, which send no account header, keep
// their resources. Like every Hourglass config it has
// sdkhttp.PlainRequestBody, so the emulator's quick answers are not lost.
func defaultAccountConfig(ctx context.Context, t *testing.T, endpoint string) aws.Config {
	t.Helper()
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion("us-east-1"),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		awsconfig.WithAPIOptions([]func(*middleware.Stack) error{sdkhttp.PlainRequestBody}))
	require.NoError(t, err)
	cfg.BaseEndpoint = aws.String(endpoint)
	return cfg
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func strPtr(s string) *string { return &s }

// scanTaskIDs lists the IDs of every task item in the stack's table.
func scanTaskIDs(t *testing.T, s *stacktest.Stack) []string {
	t.Helper()
	out, err := dynamodb.NewFromConfig(s.Env.Config).Scan(context.Background(), &dynamodb.ScanInput{TableName: &s.Res.Table})
	require.NoError(t, err)
	var ids []string
	for _, it := range out.Items {
		// A task item (a tenant and a payload hash): the ID is its sort key's tail
		// ("<due ms>#<id>", package ddbstore).
		if v, ok := it["sk"].(*types.AttributeValueMemberS); ok && it["tenant"] != nil && it["ph"] != nil {
			if _, id, ok := strings.Cut(v.Value, "#"); ok {
				ids = append(ids, id)
			}
		}
	}
	return ids
}
