package events_test

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// roundTrip unmarshals the sample file into a new T, marshals it again and
// requires the same JSON, so a sample holds exactly what the type carries:
// no field it would drop, none it would add. It returns the decoded value.
func roundTrip[T any](t *testing.T, file string) T {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", file))
	require.NoError(t, err)
	var v T
	require.NoError(t, json.Unmarshal(raw, &v))
	out, err := json.Marshal(v)
	require.NoError(t, err)
	assert.JSONEq(t, string(raw), string(out))
	return v
}

// requireSQSRecords checks what holds for every SQS sample: records come
// from SQS, and md5OfBody is the MD5 of the body, as SQS computes it.
func requireSQSRecords(t *testing.T, ev awsevents.SQSEvent, queueARN string, n int) {
	t.Helper()
	require.Len(t, ev.Records, n)
	for i, r := range ev.Records {
		sum := md5.Sum([]byte(r.Body))
		assert.Equal(t, hex.EncodeToString(sum[:]), r.Md5OfBody, "record %d md5OfBody", i)
		assert.Equal(t, "aws:sqs", r.EventSource, "record %d", i)
		assert.Equal(t, queueARN, r.EventSourceARN, "record %d", i)
	}
}

func TestSQSScanUnitSample(t *testing.T) {
	t.Parallel()
	ev := roundTrip[awsevents.SQSEvent](t, "sqs-scan-unit.json")
	requireSQSRecords(t, ev, "arn:aws:sqs:us-east-1:123456789012:hourglass-scan", 1)
	assert.JSONEq(t, `{"bucket":1795906140,"shard":3,"sweep":false}`, ev.Records[0].Body)
}

func TestSQSTaskSample(t *testing.T) {
	t.Parallel()
	ev := roundTrip[awsevents.SQSEvent](t, "sqs-task.json")
	requireSQSRecords(t, ev, "arn:aws:sqs:us-east-1:123456789012:hourglass-tasks", 2)
	for i, r := range ev.Records {
		var msg struct {
			ID string `json:"id"`
			PH string `json:"ph"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.Body), &msg), "record %d", i)
		assert.Len(t, msg.ID, 26, "record %d id", i)
		assert.Len(t, msg.PH, 32, "record %d ph", i)
	}
}

func TestScheduledEventSample(t *testing.T) {
	t.Parallel()
	ev := roundTrip[awsevents.EventBridgeEvent](t, "scheduled-event.json")
	assert.Equal(t, "Scheduled Event", ev.DetailType)
	assert.Equal(t, "aws.events", ev.Source)
	assert.Len(t, ev.Resources, 1)
	assert.JSONEq(t, `{}`, string(ev.Detail))
}

func TestAPIGatewayV2RequestSample(t *testing.T) {
	t.Parallel()
	ev := roundTrip[awsevents.APIGatewayV2HTTPRequest](t, "apigw-v2-request.json")
	assert.Equal(t, "2.0", ev.Version)
	assert.Equal(t, "GET /v1/tasks/{id}", ev.RouteKey)
	assert.Equal(t, "/v1/tasks/"+ev.PathParameters["id"], ev.RawPath)
	require.NotNil(t, ev.RequestContext.Authorizer)
	require.NotNil(t, ev.RequestContext.Authorizer.IAM)
	assert.Equal(t, "123456789012", ev.RequestContext.Authorizer.IAM.AccountID)
}
