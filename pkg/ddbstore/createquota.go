package ddbstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Each tenant's create counter for one second lives in its own items:
// pk = "cq#<len>#<tenant>#<unix second>#<shard>", sk = "cq", attribute n
// the tasks reserved from that shard in that second. A new second is a
// new partition key, so no item outlives its second's load, and the
// shards split one second's writes (package app sizes them: see
// app.QuotaPlan). The items carry the TTL attribute one hour on: clean-up
// only, a stale window is never read again.
const createQuotaSK = "cq"

// createQuotaTTL is how long a window's counter item is kept.
const createQuotaTTL = time.Hour

func createQuotaKey(tenant string, window int64, shard int) map[string]types.AttributeValue {
	pk := "cq#" + strconv.Itoa(len(tenant)) + "#" + tenant + "#" + strconv.FormatInt(window, 10) + "#" + strconv.Itoa(shard)
	return map[string]types.AttributeValue{aPK: sAttr(pk), aSK: sAttr(createQuotaSK)}
}

// ReserveCreates adds n to the tenant's create counter for the second
// window (Unix seconds), shard shard, and returns the counter's total after
// the addition: one unconditional UpdateItem (ADD), so reservations never
// lose a race, and the caller works out from the total how many of its n
// fall within the shard's share (app.Granted). An error may have
// succeeded: the tasks it counted are then lost to the window, never
// granted twice.
func (s *Store) ReserveCreates(ctx context.Context, tenant string, window int64, shard, n int) (int64, error) {
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        &s.table,
		Key:              createQuotaKey(tenant, window, shard),
		UpdateExpression: aws.String("ADD n :n SET expires_at = :exp"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":n": nAttr(int64(n)), ":exp": nAttr(window + int64(createQuotaTTL/time.Second)),
		},
		ReturnValues: types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, fmt.Errorf("reserve %d creates of %q: %w", n, tenant, err)
	}
	return getN(out.Attributes, "n"), nil
}
