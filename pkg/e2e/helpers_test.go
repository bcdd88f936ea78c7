package e2e_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/stacktest"
)

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
		if v, ok := it["id"].(*types.AttributeValueMemberS); ok && it["tenant"] != nil {
			ids = append(ids, v.Value)
		}
	}
	return ids
}
