package awstest_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// The probes below hold the emulator to the two DynamoDB guarantees
// Hourglass's correctness rests on: a conditional write is atomic (of racing
// version-conditioned updates exactly one wins), and a transaction is
// isolated and all-or-nothing. Plain moto fails both under concurrent
// requests; scripts/motoserver.py serialises its DynamoDB requests so that it
// passes. They fail, never skip, on an emulator that breaks either.

// probeTable creates a table keyed by pk alone.
func probeTable(t *testing.T, env *awstest.Env) (*dynamodb.Client, string) {
	t.Helper()
	db := dynamodb.NewFromConfig(env.Config)
	table := env.Name("atomicity-probe")
	_, err := db.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
	})
	require.NoError(t, err, "create probe table")
	return db, table
}

func str(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
func num(v int) ddbtypes.AttributeValue {
	return &ddbtypes.AttributeValueMemberN{Value: strconv.Itoa(v)}
}

func isConditionFailed(err error) bool {
	var ccf *ddbtypes.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// race starts n goroutines at one instant and waits for them.
func race(n int, f func(g int)) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for g := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			f(g)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
}

func TestEmulatorConditionalWritesAreAtomic(t *testing.T) {
	t.Parallel()
	const (
		races      = 1000
		goroutines = 8
		lanes      = 4 // items raced on at once, each for races/lanes races in turn
	)
	env := awstest.New(t)
	db, table := probeTable(t, env)
	ctx := context.Background()

	var wg sync.WaitGroup
	errs := make([]error, lanes)
	for lane := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[lane] = versionRaces(ctx, db, table, "item-"+strconv.Itoa(lane), races/lanes, goroutines)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
}

// versionRaces puts item key at version 0, then runs n races on it: in race
// r, g goroutines each try to move the item from version r to r+1 under the
// condition "ver = r". Each race must have exactly one winner, and the item
// must end at version n, marked by the last race's winner.
func versionRaces(ctx context.Context, db *dynamodb.Client, table, key string, n, g int) error {
	k := map[string]ddbtypes.AttributeValue{"pk": str(key)}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: map[string]ddbtypes.AttributeValue{"pk": str(key), "ver": num(0)}}); err != nil {
		return fmt.Errorf("%s: put: %w", key, err)
	}
	last := -1
	for r := range n {
		var mu sync.Mutex
		var winners []int
		var other error
		race(g, func(who int) {
			_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName: &table, Key: k,
				UpdateExpression:          aws.String("SET ver = :next, winner = :who"),
				ConditionExpression:       aws.String("ver = :cur"),
				ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":next": num(r + 1), ":cur": num(r), ":who": num(who)},
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, who)
			case !isConditionFailed(err):
				other = err
			}
		})
		if other != nil {
			return fmt.Errorf("%s race %d: update: %w", key, r, other)
		}
		if len(winners) != 1 {
			return fmt.Errorf("%s race %d: %d winners %v of %d version-conditioned updates, want exactly 1", key, r, len(winners), winners, g)
		}
		last = winners[0]
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: k, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("%s: get: %w", key, err)
	}
	ver, _ := out.Item["ver"].(*ddbtypes.AttributeValueMemberN)
	who, _ := out.Item["winner"].(*ddbtypes.AttributeValueMemberN)
	if ver == nil || ver.Value != strconv.Itoa(n) || who == nil || who.Value != strconv.Itoa(last) {
		return fmt.Errorf("%s: item is %v after %d races won last by %d, want that version and winner", key, out.Item, n, last)
	}
	return nil
}

func TestEmulatorTransactionsAreIsolated(t *testing.T) {
	t.Parallel()
	const (
		rounds     = 100
		goroutines = 8
	)
	env := awstest.New(t)
	db, table := probeTable(t, env)
	ctx := context.Background()

	want := map[string]bool{} // every key the rounds must leave, and no other

	for r := range rounds {
		shared := fmt.Sprintf("shared-%d", r)
		own := func(g int) string { return fmt.Sprintf("own-%d-%d", r, g) }
		plain := func(g int) string { return fmt.Sprintf("plain-%d-%d", r, g) }
		var mu sync.Mutex
		var winners []int
		var other []error
		// Half the goroutines race a two-item transaction (the shared item
		// decides who wins; each also writes an item of its own); the other
		// half make plain puts, which a transaction that snapshots and
		// restores the table would silently undo.
		race(2*goroutines, func(g int) {
			var err error
			if g < goroutines {
				_, err = db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
					{Put: &ddbtypes.Put{TableName: &table, Item: map[string]ddbtypes.AttributeValue{"pk": str(shared), "g": num(g)}, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
					{Put: &ddbtypes.Put{TableName: &table, Item: map[string]ddbtypes.AttributeValue{"pk": str(own(g)), "g": num(g)}, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
				}})
			} else {
				_, err = db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: map[string]ddbtypes.AttributeValue{"pk": str(plain(g)), "g": num(g)}})
			}
			mu.Lock()
			defer mu.Unlock()
			var tce *ddbtypes.TransactionCanceledException
			switch {
			case err == nil && g < goroutines:
				winners = append(winners, g)
			case err == nil:
			case g < goroutines && errors.As(err, &tce):
			default:
				other = append(other, err)
			}
		})
		require.Empty(t, other, "round %d: unexpected errors", r)
		require.Len(t, winners, 1, "round %d: %d transactions won the shared item, want exactly 1", r, len(winners))
		want[shared], want[own(winners[0])] = true, true
		for g := goroutines; g < 2*goroutines; g++ {
			want[plain(g)] = true
		}
	}

	// One scan at the end: a loser's own item would be a partial write, a
	// missing plain item an acknowledged write undone by a transaction.
	got := map[string]bool{}
	pages := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: &table, ConsistentRead: aws.Bool(true)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		require.NoError(t, err, "scan")
		for _, it := range page.Items {
			got[it["pk"].(*ddbtypes.AttributeValueMemberS).Value] = true
		}
	}
	for k := range want {
		require.True(t, got[k], "item %s was acknowledged but is gone (a write undone by a concurrent transaction)", k)
	}
	for k := range got {
		require.True(t, want[k], "item %s is there but its transaction lost (a partial write)", k)
	}
}
