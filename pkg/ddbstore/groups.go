package ddbstore

import (
	"context"

	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hourglass-sched/hourglass/pkg/schedule"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Schedule groups share the table too:
//
//	group  pk "grp#<len(tenant)>#<tenant>"  sk "<group name>"
//
// so a tenant's groups are one Query, in name order.

// groupDeleting is the state attribute of a group being deleted (an
// active group has none).
const groupDeleting = "DELETING"

func groupPK(tenant string) string { return "grp#" + strconv.Itoa(len(tenant)) + "#" + tenant }

func groupKey(tenant, name string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{aPK: sAttr(groupPK(tenant)), aSK: sAttr(name)}
}

func marshalGroup(g *schedule.Group) map[string]types.AttributeValue {
	item := groupKey(g.Tenant, g.Name)
	item[aTenant], item[aName] = sAttr(g.Tenant), sAttr(g.Name)
	item[aCreated], item[aUpdated] = msAttr(g.CreatedAt), msAttr(g.UpdatedAt)
	if g.Deleting {
		item[aState] = sAttr(groupDeleting)
	}
	if len(g.Tags) > 0 {
		m := make(map[string]types.AttributeValue, len(g.Tags))
		for k, v := range g.Tags {
			m[k] = sAttr(v)
		}
		item[aTags] = &types.AttributeValueMemberM{Value: m}
	}
	return item
}

func unmarshalGroup(item map[string]types.AttributeValue) *schedule.Group {
	g := &schedule.Group{Tenant: getS(item, aTenant), Name: getS(item, aName), Deleting: getS(item, aState) == groupDeleting, CreatedAt: getMs(item, aCreated), UpdatedAt: getMs(item, aUpdated)}
	if m, ok := item[aTags].(*types.AttributeValueMemberM); ok && len(m.Value) > 0 {
		g.Tags = make(map[string]string, len(m.Value))
		for k, v := range m.Value {
			if sv, ok := v.(*types.AttributeValueMemberS); ok {
				g.Tags[k] = sv.Value
			}
		}
	}
	return g
}

// CreateGroup writes a new schedule group; an existing one is
// task.ErrConflict.
func (s *Store) CreateGroup(ctx context.Context, g *schedule.Group) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: marshalGroup(g), ConditionExpression: aws.String("attribute_not_exists(pk)")})
	if isConditionFailed(err) {
		return fmt.Errorf("create group %s: %w", g.Name, task.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create group %s: %w", g.Name, err)
	}
	return nil
}

// PutGroup replaces an existing group (its tags); a missing one is
// task.ErrNotFound.
func (s *Store) PutGroup(ctx context.Context, g *schedule.Group) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: marshalGroup(g), ConditionExpression: aws.String("attribute_exists(pk)")})
	if isConditionFailed(err) {
		return fmt.Errorf("put group %s: %w", g.Name, task.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("put group %s: %w", g.Name, err)
	}
	return nil
}

// GetGroup reads a tenant's group; task.ErrNotFound when absent.
func (s *Store) GetGroup(ctx context.Context, tenant, name string) (*schedule.Group, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: groupKey(tenant, name), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("get group %s: %w", name, err)
	}
	if out.Item == nil {
		return nil, fmt.Errorf("get group %s: %w", name, task.ErrNotFound)
	}
	return unmarshalGroup(out.Item), nil
}

// DeleteGroup deletes a group item; task.ErrNotFound if it did not exist.
func (s *Store) DeleteGroup(ctx context.Context, tenant, name string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: groupKey(tenant, name), ConditionExpression: aws.String("attribute_exists(pk)")})
	if isConditionFailed(err) {
		return fmt.Errorf("delete group %s: %w", name, task.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete group %s: %w", name, err)
	}
	return nil
}

// ListGroups returns one page of a tenant's groups in name order, after
// the name after ("" from the start); next is "" on the last page.
func (s *Store) ListGroups(ctx context.Context, tenant, after string, limit int32) ([]*schedule.Group, string, error) {
	return queryPage(ctx, s, groupPK(tenant), after, limit, "list groups", unmarshalGroup)
}
