package faults_test

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/logging"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/testkit/faults"
)

// sdkLog records what the SDK logs. The DynamoDB client checks every
// response body against its X-Amz-Crc32 header only when it closes the
// body, after the result is decoded, so a mismatch never fails a call: a
// log line is all there is to see.
type sdkLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *sdkLog) Logf(c logging.Classification, format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(c)+" "+fmt.Sprintf(format, v...))
}

func (l *sdkLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// logTo returns cfg logging to a fresh sdkLog.
func logTo(cfg aws.Config) (aws.Config, *sdkLog) {
	l := &sdkLog{}
	c := cfg.Copy()
	c.Logger = l
	return c, l
}

// TestInjectedDynamoDBErrorsCarryCRC32 checks that the errors the proxy
// makes up for DynamoDB carry X-Amz-Crc32 over their body, as DynamoDB's
// own do: without it the SDK warned "response did not match expected
// checksum, 0, …" on every injected fault.
func TestInjectedDynamoDBErrorsCarryCRC32(t *testing.T) {
	t.Parallel()
	for _, kind := range []faults.Kind{faults.Throttle, faults.Provisioned, faults.ServerError} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			// Every request faults, so the upstream is never reached.
			_, url := startProxy(t, "http://127.0.0.1:9", faults.Rule{Op: "*", Kind: kind, Rate: 1})

			req, err := http.NewRequest(http.MethodPost, url, strings.NewReader("{}"))
			require.NoError(t, err)
			req.Header.Set("X-Amz-Target", "DynamoDB_20120810.GetItem")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			require.NotEmpty(t, resp.Header.Get("X-Amz-Crc32"), "DynamoDB answers carry X-Amz-Crc32")
			assert.Equal(t, strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10), resp.Header.Get("X-Amz-Crc32"))

			// Other services send no such header; neither does the proxy.
			req, err = http.NewRequest(http.MethodPost, url, strings.NewReader("{}"))
			require.NoError(t, err)
			req.Header.Set("X-Amz-Target", "AmazonSQS.SendMessage")
			resp, err = http.DefaultClient.Do(req)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			require.NoError(t, resp.Body.Close())
			assert.Empty(t, resp.Header.Get("X-Amz-Crc32"))
			http.DefaultClient.CloseIdleConnections()

			// And the SDK, which validates the checksum, has nothing to say.
			cfg, log := logTo(through(aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}}, url, oneAttempt))
			_, err = dynamodb.NewFromConfig(cfg).GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("t"),
				Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "x"}}})
			require.Error(t, err)
			assert.Empty(t, log.all(), "SDK log")
		})
	}
}

// TestDynamoDBChecksumsHoldThroughFaults runs the DynamoDB calls Hourglass
// makes — with non-ASCII and large items, gzip asked for or not — against
// the emulator through a proxy that fails a share of them, and checks that
// every value reads back as written and that the SDK never logs a checksum
// mismatch: neither on the emulator's answers (moto's X-Amz-Crc32 is the
// CRC32 of the UTF-8 bytes it sends) nor on the proxy's own.
func TestDynamoDBChecksumsHoldThroughFaults(t *testing.T) {
	t.Parallel()
	values := map[string]string{
		"ascii":         "plain",
		"non-ascii":     "héllo wörld – 日本語 ✓ 🎉 \u2028 <&>",
		"large":         strings.Repeat("0123456789abcdef", 20_000),         // 320 KB
		"large-non-asc": strings.Repeat("é日🎉", 30_000),                      // 270 KB of UTF-8
		"escapes":       "quote \" backslash \\ tab \t newline \n nul \x00", // JSON escapes
	}
	for _, gzip := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", gzip), func(t *testing.T) {
			f := setup(t)
			p, url := startProxy(t, f.env.Endpoint,
				faults.Rule{Op: "DynamoDB_20120810.*", Kind: faults.Throttle, Rate: 0.1},
				faults.Rule{Op: "DynamoDB_20120810.*", Kind: faults.Provisioned, Rate: 0.1},
				faults.Rule{Op: "DynamoDB_20120810.*", Kind: faults.ServerError, Rate: 0.1},
				faults.Rule{Op: "DynamoDB_20120810.*", Kind: faults.Latency, Rate: 0.1, Delay: 20 * time.Millisecond},
			)
			cfg, log := logTo(through(f.env.Config, url, config.Retryer))
			db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.EnableAcceptEncodingGzip = gzip })
			ctx := context.Background()
			s := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
			str := func(av ddbtypes.AttributeValue) string {
				t.Helper()
				v, ok := av.(*ddbtypes.AttributeValueMemberS)
				require.True(t, ok, "want a string, got %T", av)
				return v.Value
			}
			key := func(name string) map[string]ddbtypes.AttributeValue {
				return map[string]ddbtypes.AttributeValue{"pk": s("crc"), "sk": s(name)}
			}

			var keys []map[string]ddbtypes.AttributeValue
			for name, v := range values {
				item := key(name)
				item["v"] = s(v)
				_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table, Item: item})
				require.NoError(t, err, "put %s", name)

				got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &f.table, Key: key(name), ConsistentRead: aws.Bool(true)})
				require.NoError(t, err, "get %s", name)
				require.NotNil(t, got.Item, "get %s", name)
				assert.Equal(t, v, str(got.Item["v"]), "get %s", name)

				// Small enough to double within the 400 KB item limit.
				if len(v) < 100_000 {
					up, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &f.table, Key: key(name),
						UpdateExpression:          aws.String("SET w = :w"),
						ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":w": s(v + "!")},
						ReturnValues:              ddbtypes.ReturnValueAllNew})
					require.NoError(t, err, "update %s", name)
					assert.Equal(t, v, str(up.Attributes["v"]), "update %s", name)
					assert.Equal(t, v+"!", str(up.Attributes["w"]), "update %s", name)
				}
				keys = append(keys, key(name))
			}

			q, err := db.Query(ctx, &dynamodb.QueryInput{TableName: &f.table, ConsistentRead: aws.Bool(true),
				KeyConditionExpression:    aws.String("pk = :p"),
				ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":p": s("crc")}})
			require.NoError(t, err)
			require.Nil(t, q.LastEvaluatedKey, "one page holds every item (under 1 MB)")
			require.Len(t, q.Items, len(values))
			for _, it := range q.Items {
				assert.Equal(t, values[str(it["sk"])], str(it["v"]), "query %s", str(it["sk"]))
			}

			bg, err := db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]ddbtypes.KeysAndAttributes{
				f.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}})
			require.NoError(t, err)
			require.Empty(t, bg.UnprocessedKeys)
			require.Len(t, bg.Responses[f.table], len(values))
			for _, it := range bg.Responses[f.table] {
				assert.Equal(t, values[str(it["sk"])], str(it["v"]), "batch get %s", str(it["sk"]))
			}

			tx := key("tx")
			tx["v"] = s(values["non-ascii"])
			_, err = db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
				{Put: &ddbtypes.Put{TableName: &f.table, Item: tx}},
				{Update: &ddbtypes.Update{TableName: &f.table, Key: key("ascii"), UpdateExpression: aws.String("SET x = :x"),
					ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":x": s(values["non-ascii"])}}},
			}})
			require.NoError(t, err)
			got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &f.table, Key: key("tx"), ConsistentRead: aws.Bool(true)})
			require.NoError(t, err)
			require.NotNil(t, got.Item)
			assert.Equal(t, values["non-ascii"], str(got.Item["v"]))

			assert.Positive(t, p.Injected(), "faults were injected (%v)", p.Counts())
			for _, line := range log.all() {
				assert.NotContains(t, line, "checksum", "SDK log")
			}
		})
	}
}
