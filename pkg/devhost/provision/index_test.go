package provision_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/devhost/provision"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// TestTenantIndex: a new table gets the KEYS_ONLY by_tenant and by_failed
// indexes, and a table made before they existed gets them added.
func TestTenantIndex(t *testing.T) {
	t.Parallel()
	env := awstest.New(t)
	ctx := context.Background()
	db := dynamodb.NewFromConfig(env.Config)
	index := func(table string, name ...string) *ddbtypes.GlobalSecondaryIndexDescription {
		want := "by_tenant"
		if len(name) > 0 {
			want = name[0]
		}
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &table})
		require.NoError(t, err)
		for _, g := range out.Table.GlobalSecondaryIndexes {
			if aws.ToString(g.IndexName) == want {
				return &g
			}
		}
		return nil
	}

	fresh, err := provision.Ensure(ctx, env.Config, provision.Spec{Prefix: env.Name("new")})
	require.NoError(t, err)
	g := index(fresh.Table)
	require.NotNil(t, g)
	assert.Equal(t, ddbtypes.ProjectionTypeKeysOnly, g.Projection.ProjectionType)
	f := index(fresh.Table, "by_failed")
	require.NotNil(t, f)
	assert.Equal(t, ddbtypes.ProjectionTypeKeysOnly, f.Projection.ProjectionType)
	require.Len(t, f.KeySchema, 2)
	assert.Equal(t, "tenant", aws.ToString(f.KeySchema[0].AttributeName))
	assert.Equal(t, "failed_sk", aws.ToString(f.KeySchema[1].AttributeName))

	prefix := env.Name("old")
	_, err = db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(prefix + "-tasks"), BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: ddbtypes.KeyTypeRange},
		},
	})
	require.NoError(t, err)
	require.Nil(t, index(prefix+"-tasks"), "the old table has no index")
	old, err := provision.Ensure(ctx, env.Config, provision.Spec{Prefix: prefix})
	require.NoError(t, err)
	require.NotNil(t, index(old.Table), "Ensure added by_tenant")
	require.NotNil(t, index(old.Table, "by_failed"), "Ensure added by_failed")
}
