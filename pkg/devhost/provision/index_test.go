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

// TestTenantIndex: a new table gets the KEYS_ONLY by_tenant index, and a
// table made before the index existed gets it added.
func TestTenantIndex(t *testing.T) {
	t.Parallel()
	env := awstest.New(t)
	ctx := context.Background()
	db := dynamodb.NewFromConfig(env.Config)
	index := func(table string) *ddbtypes.GlobalSecondaryIndexDescription {
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &table})
		require.NoError(t, err)
		for _, g := range out.Table.GlobalSecondaryIndexes {
			if aws.ToString(g.IndexName) == "by_tenant" {
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
	require.NotNil(t, index(old.Table), "Ensure added it")
}
