package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hourglass-sched/hourglass/pkg/schedule"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// GroupStore keeps schedule groups (ddbstore.Store).
type GroupStore interface {
	// CreateGroup writes a new group; task.ErrConflict when it exists.
	CreateGroup(ctx context.Context, g *schedule.Group) error
	// PutGroup replaces an existing group; task.ErrNotFound when absent.
	PutGroup(ctx context.Context, g *schedule.Group) error
	// GetGroup reads a group; task.ErrNotFound when absent.
	GetGroup(ctx context.Context, tenant, name string) (*schedule.Group, error)
	// DeleteGroup deletes a group; task.ErrNotFound when absent.
	// (A group's DELETING mark is written by PutGroup.)
	DeleteGroup(ctx context.Context, tenant, name string) error
	// ListGroups returns one page of a tenant's groups in name order.
	ListGroups(ctx context.Context, tenant, after string, limit int32) ([]*schedule.Group, string, error)
}

// Named is the service of named schedules and schedule groups — the rules
// of EventBridge Scheduler's model on top of the schedule service: a
// schedule is named by (group, name), unique per tenant; a group must
// exist before a schedule is created in it, and deleting it deletes its
// schedules; the group "default" always exists and cannot be deleted;
// groups carry tags. Schedules created through /v1 have no name and are
// not part of this model (ListNamed leaves them out).
type Named struct {
	s         *Schedules
	groups    GroupStore
	maxGroups int
}

// DefaultMaxGroups is how many schedule groups a tenant may have, the
// default group included: EventBridge Scheduler's quota per account and
// region, applied per tenant.
const DefaultMaxGroups = 500

// NewNamed returns the named-schedule service over the schedule service s.
func NewNamed(s *Schedules, groups GroupStore) *Named {
	return &Named{s: s, groups: groups, maxGroups: DefaultMaxGroups}
}

// SetMaxGroups changes the per-tenant cap on schedule groups (default
// DefaultMaxGroups, the default group included; n < 1 leaves it as is).
func (n *Named) SetMaxGroups(max int) {
	if max >= 1 {
		n.maxGroups = max
	}
}

// NamedSchedule is a named schedule's definition: the names and the
// Scheduler-only settings, and Definition, a /v1 create document.
type NamedSchedule struct {
	Group, Name     string // Group "" is the default group
	Description     string
	ClientToken     string // create only: a repeated create with it answers the schedule
	AfterCompletion schedule.AfterCompletion
	DeadLetterArn   string
	RoleArn         string        // recorded on the target (task.Target.RoleArn)
	MaxEventAge     time.Duration // 0: unbounded
	Definition      []byte
}

// The limits of names and fields, EventBridge Scheduler's.
const (
	maxNameLen        = 64
	maxDescriptionLen = 512
	maxClientToken    = 64
	maxTags           = 200
	minEventAge       = 60 * time.Second
	maxEventAge       = 24 * time.Hour
)

func validName(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func validToken(s string) bool {
	if s == "" || len(s) > maxClientToken {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

const nameRule = "must be 1 to 64 characters: letters, digits, - _ ."

func (in *NamedSchedule) check(create bool) []task.FieldError {
	var errs []task.FieldError
	add := func(f, r string) { errs = append(errs, task.FieldError{Field: f, Reason: r}) }
	if in.Group == "" {
		in.Group = schedule.DefaultGroup
	}
	if !validName(in.Name) {
		add("name", nameRule)
	}
	if !validName(in.Group) {
		add("group", nameRule)
	}
	if utf8.RuneCountInString(in.Description) > maxDescriptionLen {
		add("description", "must be at most 512 characters")
	}
	if create && in.ClientToken != "" && !validToken(in.ClientToken) {
		add("client_token", "must be 1 to 64 characters: letters, digits, - _")
	}
	switch in.AfterCompletion {
	case "":
		in.AfterCompletion = schedule.AfterNone
	case schedule.AfterNone, schedule.AfterDelete:
	default:
		add("action_after_completion", "must be NONE or DELETE")
	}
	if in.MaxEventAge != 0 && (in.MaxEventAge < minEventAge || in.MaxEventAge > maxEventAge) {
		add("maximum_event_age", "must be from 60 to 86400 seconds")
	}
	return errs
}

func (in *NamedSchedule) decorate(create bool) func(*schedule.Schedule) {
	return func(s *schedule.Schedule) {
		s.Name, s.Group, s.Description = in.Name, in.Group, in.Description
		s.AfterCompletion, s.DeadLetterArn, s.MaxEventAge = in.AfterCompletion, in.DeadLetterArn, in.MaxEventAge
		s.Target.RoleArn = in.RoleArn
		if create {
			s.ClientToken = in.ClientToken
			// A name freed by a delete can be taken again, under the same
			// ID.
			freshGeneration(s)
		}
	}
}

// Create creates tenant's schedule in.Name in in.Group. The group must
// exist (*NotFound); the name must be free in it (*Conflict) — unless the
// schedule there was created under the same ClientToken, which is then
// answered (created false).
func (n *Named) Create(ctx context.Context, tenant string, in NamedSchedule) (*schedule.Schedule, bool, error) {
	if errs := in.check(true); len(errs) > 0 {
		return nil, false, &Invalid{Fields: errs}
	}
	if len(in.Definition) > n.s.MaxBody() {
		return nil, false, &TooLarge{Detail: "the schedule exceeds the payload limit plus 64 KiB"}
	}
	raw, fe := schedule.DecodeBody(in.Definition)
	if fe != nil {
		return nil, false, &Invalid{Fields: []task.FieldError{*fe}}
	}
	if err := n.groupOpen(ctx, tenant, in.Group); err != nil {
		return nil, false, err
	}
	id := schedule.NamedID(tenant, in.Group, in.Name)
	s, err := n.s.create(ctx, tenant, id, raw, in.decorate(true))
	if err == nil {
		// A group delete may have begun since the check: it marks the group
		// DELETING before it lists the schedules, and this create wrote the
		// schedule before reading the group again, so either that list sees
		// the schedule or this read sees the mark — and then the create is
		// undone rather than left without a group.
		if gerr := n.groupOpen(ctx, tenant, in.Group); gerr != nil {
			if derr := n.s.store.DeleteScheduleIf(ctx, tenant, s.ID, s.Generation); derr != nil && !errors.Is(derr, task.ErrNotFound) {
				return nil, false, fmt.Errorf("undo schedule %s created in group %s being deleted: %w", s.ID, in.Group, derr)
			}
			return nil, false, gerr
		}
		return s, true, nil
	}
	if !errors.Is(err, task.ErrConflict) {
		return nil, false, err
	}
	prev, gerr := n.s.store.GetSchedule(ctx, tenant, id)
	if gerr == nil && in.ClientToken != "" && prev.ClientToken == in.ClientToken {
		return prev, false, nil
	}
	return nil, false, &Conflict{Detail: "Schedule " + in.Name + " already exists."}
}

// groupOpen checks that tenant's group name exists and is not being
// deleted: *NotFound, or *Conflict for a group marked DELETING.
func (n *Named) groupOpen(ctx context.Context, tenant, name string) error {
	g, err := n.GetGroup(ctx, tenant, name)
	if err != nil {
		return err
	}
	if g.Deleting {
		return &Conflict{Detail: "Schedule group " + name + " is being deleted."}
	}
	return nil
}

// Get returns tenant's schedule name in group ("" default).
func (n *Named) Get(ctx context.Context, tenant, group, name string) (*schedule.Schedule, error) {
	if group == "" {
		group = schedule.DefaultGroup
	}
	what := "Schedule " + name
	if !validName(name) || !validName(group) {
		return nil, &NotFound{What: what}
	}
	s, err := n.s.store.GetSchedule(ctx, tenant, schedule.NamedID(tenant, group, name))
	if err != nil {
		return nil, storeError(err, what)
	}
	if s.Name != name || s.Group != group {
		return nil, &NotFound{What: what}
	}
	return s, nil
}

// Update replaces tenant's schedule in.Name in in.Group wholesale (the
// Scheduler API's UpdateSchedule): every setting not in the definition
// returns to its default. It starts a new generation, as a PATCH does.
func (n *Named) Update(ctx context.Context, tenant string, in NamedSchedule) (*schedule.Schedule, error) {
	if errs := in.check(false); len(errs) > 0 {
		return nil, &Invalid{Fields: errs}
	}
	if len(in.Definition) > n.s.MaxBody() {
		return nil, &TooLarge{Detail: "the schedule exceeds the payload limit plus 64 KiB"}
	}
	raw, fe := schedule.DecodeBody(in.Definition)
	if fe != nil {
		return nil, &Invalid{Fields: []task.FieldError{*fe}}
	}
	prev, err := n.Get(ctx, tenant, in.Group, in.Name)
	if err != nil {
		return nil, err
	}
	return n.s.change(ctx, tenant, prev.ID, "", func(*schedule.Schedule) map[string]json.RawMessage { return raw }, in.decorate(false))
}

// Delete deletes tenant's schedule name in group.
func (n *Named) Delete(ctx context.Context, tenant, group, name string) error {
	s, err := n.Get(ctx, tenant, group, name)
	if err != nil {
		return err
	}
	if err := n.s.store.DeleteSchedule(ctx, tenant, s.ID); err != nil {
		return storeError(err, "Schedule "+name)
	}
	return nil
}

// NamedFilter selects named schedules.
type NamedFilter struct {
	Group, NamePrefix string
	State             schedule.State // "" any
	Max               int            // 1 to 100
	Token             string         // a NextToken, or ""
}

// List returns a page of tenant's named schedules matching f, and the
// token of the next page ("" on the last). Schedules without a name
// (created through /v1) are left out.
func (n *Named) List(ctx context.Context, tenant string, f NamedFilter) ([]*schedule.Schedule, string, error) {
	after, err := decodeToken(f.Token)
	if err != nil || (after != "" && !schedule.ValidID(after)) {
		return nil, "", invalid("next_token", "is not a token this API returned")
	}
	out := []*schedule.Schedule{}
	for {
		page, next, err := n.s.store.ListSchedules(ctx, tenant, after, 100)
		if err != nil {
			return nil, "", storeError(err, "")
		}
		for i, s := range page {
			if s.Name == "" || (f.Group != "" && s.Group != f.Group) || !strings.HasPrefix(s.Name, f.NamePrefix) || (f.State != "" && s.State != f.State) {
				continue
			}
			out = append(out, s)
			if len(out) == f.Max {
				if i < len(page)-1 || next != "" {
					return out, encodeToken(s.ID), nil
				}
				return out, "", nil
			}
		}
		if next == "" {
			return out, "", nil
		}
		after = next
	}
}

func encodeToken(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func decodeToken(t string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(t)
	return string(b), err
}

// defaultGroup is the group every tenant has without creating it.
func defaultGroup(tenant string) *schedule.Group {
	return &schedule.Group{Tenant: tenant, Name: schedule.DefaultGroup}
}

// CheckTags validates a tag set being added (names its field "tags").
func checkTags(tags map[string]string) []task.FieldError {
	var errs []task.FieldError
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if n := utf8.RuneCountInString(k); n < 1 || n > 128 {
			errs = append(errs, task.FieldError{Field: "tags", Reason: fmt.Sprintf("key %q must be 1 to 128 characters", k)})
		}
		if utf8.RuneCountInString(tags[k]) > 256 {
			errs = append(errs, task.FieldError{Field: "tags", Reason: fmt.Sprintf("value of %q must be at most 256 characters", k)})
		}
	}
	return errs
}

// CreateGroup creates tenant's schedule group name with tags; one that
// exists (the default group always does) is *Conflict.
func (n *Named) CreateGroup(ctx context.Context, tenant, name string, tags map[string]string) (*schedule.Group, error) {
	if !validName(name) {
		return nil, invalid("name", nameRule)
	}
	errs := checkTags(tags)
	if len(tags) > maxTags {
		errs = append(errs, task.FieldError{Field: "tags", Reason: "must be at most 200"})
	}
	if len(errs) > 0 {
		return nil, &Invalid{Fields: errs}
	}
	if name == schedule.DefaultGroup {
		return nil, &Conflict{Detail: "Schedule group default already exists."}
	}
	if err := n.checkGroupQuota(ctx, tenant); err != nil {
		return nil, err
	}
	now := n.s.clock.Now().UTC().Truncate(time.Millisecond)
	g := &schedule.Group{Tenant: tenant, Name: name, Tags: tags, CreatedAt: now, UpdatedAt: now}
	if err := n.groups.CreateGroup(ctx, g); err != nil {
		if errors.Is(err, task.ErrConflict) {
			return nil, &Conflict{Detail: "Schedule group " + name + " already exists."}
		}
		return nil, err
	}
	return g, nil
}

// checkGroupQuota refuses a new group (*QuotaExceeded) when tenant has
// maxGroups already, the default group counted whether stored or not. It
// reads at most maxGroups/100+1 pages. Two creates racing at the cap can
// both pass (the count is not a transaction); the cap is a guard against
// runaway clients, not a hard partition.
func (n *Named) checkGroupQuota(ctx context.Context, tenant string) error {
	count, after := 1, "" // the default group
	for {
		page, next, err := n.groups.ListGroups(ctx, tenant, after, 100)
		if err != nil {
			return storeError(err, "")
		}
		for _, g := range page {
			if g.Name != schedule.DefaultGroup {
				count++
			}
		}
		if count >= n.maxGroups {
			return &QuotaExceeded{Detail: fmt.Sprintf("a tenant has at most %d schedule groups (the default group included)", n.maxGroups)}
		}
		if next == "" {
			return nil
		}
		after = next
	}
}

// GetGroup returns tenant's group name (the default group always exists).
func (n *Named) GetGroup(ctx context.Context, tenant, name string) (*schedule.Group, error) {
	what := "Schedule group " + name
	if !validName(name) {
		return nil, &NotFound{What: what}
	}
	g, err := n.groups.GetGroup(ctx, tenant, name)
	if errors.Is(err, task.ErrNotFound) && name == schedule.DefaultGroup {
		return defaultGroup(tenant), nil
	}
	if err != nil {
		return nil, storeError(err, what)
	}
	return g, nil
}

// DeleteGroup deletes tenant's group name and every schedule in it. The
// default group cannot be deleted. The group is first marked DELETING,
// which refuses creates into it (Create checks again after its write, so
// a create racing the delete is either listed here or undone there); then
// the schedules go, then the group. A crash leaves the group DELETING with
// fewer schedules, never schedules without a group, and the next delete
// finishes it.
func (n *Named) DeleteGroup(ctx context.Context, tenant, name string) error {
	if name == schedule.DefaultGroup {
		return invalid("name", "the default schedule group cannot be deleted")
	}
	g, err := n.GetGroup(ctx, tenant, name)
	if err != nil {
		return err
	}
	if !g.Deleting {
		g.Deleting, g.UpdatedAt = true, n.s.clock.Now().UTC().Truncate(time.Millisecond)
		if err := n.groups.PutGroup(ctx, g); err != nil {
			return storeError(err, "Schedule group "+name)
		}
	}
	after := ""
	for {
		page, next, err := n.s.store.ListSchedules(ctx, tenant, after, 100)
		if err != nil {
			return storeError(err, "")
		}
		for _, s := range page {
			if s.Name != "" && s.Group == name {
				if err := n.s.store.DeleteSchedule(ctx, tenant, s.ID); err != nil && !errors.Is(err, task.ErrNotFound) {
					return fmt.Errorf("delete schedule %s of group %s: %w", s.ID, name, err)
				}
			}
		}
		if next == "" {
			break
		}
		after = next
	}
	if err := n.groups.DeleteGroup(ctx, tenant, name); err != nil {
		return storeError(err, "Schedule group "+name)
	}
	return nil
}

// ListGroups returns a page of tenant's groups (the default group
// included) in name order whose names start with prefix, and the next
// page's token ("" on the last).
func (n *Named) ListGroups(ctx context.Context, tenant, prefix string, max int, token string) ([]*schedule.Group, string, error) {
	after, err := decodeToken(token)
	if err != nil || (token != "" && !validName(after)) {
		return nil, "", invalid("next_token", "is not a token this API returned")
	}
	var all []*schedule.Group
	hasDefault := false
	for cur := after; ; {
		page, next, err := n.groups.ListGroups(ctx, tenant, cur, 100)
		if err != nil {
			return nil, "", storeError(err, "")
		}
		for _, g := range page {
			hasDefault = hasDefault || g.Name == schedule.DefaultGroup
			if strings.HasPrefix(g.Name, prefix) {
				all = append(all, g)
			}
		}
		if next == "" || len(all) > max {
			break
		}
		cur = next
	}
	if !hasDefault && schedule.DefaultGroup > after && strings.HasPrefix(schedule.DefaultGroup, prefix) {
		if _, err := n.groups.GetGroup(ctx, tenant, schedule.DefaultGroup); errors.Is(err, task.ErrNotFound) {
			all = append(all, defaultGroup(tenant))
			sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
		}
	}
	if len(all) > max {
		return all[:max], encodeToken(all[max-1].Name), nil
	}
	return all, "", nil
}

// TagGroup adds (or replaces) tags on tenant's group name.
func (n *Named) TagGroup(ctx context.Context, tenant, name string, tags map[string]string) error {
	if errs := checkTags(tags); len(errs) > 0 {
		return &Invalid{Fields: errs}
	}
	return n.retagGroup(ctx, tenant, name, func(g *schedule.Group) {
		if g.Tags == nil {
			g.Tags = map[string]string{}
		}
		for k, v := range tags {
			g.Tags[k] = v
		}
	})
}

// UntagGroup removes tags by key from tenant's group name.
func (n *Named) UntagGroup(ctx context.Context, tenant, name string, keys []string) error {
	return n.retagGroup(ctx, tenant, name, func(g *schedule.Group) {
		for _, k := range keys {
			delete(g.Tags, k)
		}
	})
}

func (n *Named) retagGroup(ctx context.Context, tenant, name string, change func(*schedule.Group)) error {
	g, err := n.GetGroup(ctx, tenant, name)
	if err != nil {
		return err
	}
	if g.Deleting {
		return &Conflict{Detail: "Schedule group " + name + " is being deleted."}
	}
	change(g)
	if len(g.Tags) > maxTags {
		return invalid("tags", "a schedule group has at most 200 tags")
	}
	g.UpdatedAt = n.s.clock.Now().UTC().Truncate(time.Millisecond)
	if g.CreatedAt.IsZero() {
		// The default group's first tags store it.
		g.CreatedAt = g.UpdatedAt
		err = n.groups.CreateGroup(ctx, g)
		if errors.Is(err, task.ErrConflict) {
			err = n.groups.PutGroup(ctx, g)
		}
	} else {
		err = n.groups.PutGroup(ctx, g)
	}
	if err != nil {
		return storeError(err, "Schedule group "+name)
	}
	return nil
}
