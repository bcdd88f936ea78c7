package schedulerapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/schedule"
	"github.com/hourglass-sched/hourglass/pkg/sigv4"
)

// Config configures the door.
type Config struct {
	// Resolver finds an access key's tenant and secret: sigv4.DevResolver
	// in development mode, the access-key store's in AWS.
	Resolver sigv4.Resolver
	// Account is the account ID in the ARNs this door answers with;
	// "000000000000" when empty. The region is the caller's signing
	// region.
	Account string
	// MaxBody bounds a request body (the schedule service's MaxBody).
	MaxBody int
	// Now is the clock of the signature's date check (time.Now when nil).
	Now func() time.Time
}

// Handler serves the Scheduler API.
type Handler struct {
	svc     *app.Named
	verify  *sigv4.Verifier
	account string
	maxBody int
	log     zerolog.Logger
}

// New returns the door over the named-schedule service.
func New(cfg Config, svc *app.Named, log zerolog.Logger) *Handler {
	if cfg.Account == "" {
		cfg.Account = "000000000000"
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	return &Handler{
		svc: svc, verify: &sigv4.Verifier{Service: "scheduler", Resolver: cfg.Resolver, Now: cfg.Now},
		account: cfg.Account, maxBody: cfg.MaxBody, log: log.With().Str("component", "scheduler-api").Logger(),
	}
}

// Mount registers h at the Scheduler API's paths on mux, beside /v1.
func Mount(mux *http.ServeMux, h http.Handler) {
	for _, p := range []string{"/schedules", "/schedules/", "/schedule-groups", "/schedule-groups/", "/tags/"} {
		mux.Handle(p, h)
	}
}

// call is one verified request.
type call struct {
	tenant, region string
	body           []byte
	query          url.Values
}

// ServeHTTP verifies the signature, then routes by method and AWS path.
// The path is taken as it came on the wire (EscapedPath), so a resource ARN
// with %2F in it is one segment.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(h.maxBody)+1))
	if err != nil {
		validation("the request body could not be read").write(w)
		return
	}
	if len(body) > h.maxBody {
		validation("the request body is larger than " + strconv.Itoa(h.maxBody) + " bytes").write(w)
		return
	}
	id, err := h.verify.VerifyIdentity(ctx, r, body)
	if err != nil {
		errorOf(h.log, err).write(w)
		return
	}
	log := h.log.With().Str("tenant", id.Tenant).Logger()
	c := &call{tenant: id.Tenant, region: id.Region, body: body, query: r.URL.Query()}
	resource, name, ok := splitPath(r.URL.EscapedPath())
	if !ok {
		unknown(w, r)
		return
	}
	if (name == "" && r.Method != http.MethodGet) || (resource == "tags" && name == "") {
		unknown(w, r)
		return
	}
	var out any
	switch resource + " " + r.Method {
	case "schedules GET":
		if name == "" {
			out, err = h.listSchedules(ctx, c)
		} else {
			out, err = h.getSchedule(ctx, c, name)
		}
	case "schedules POST":
		out, err = h.putSchedule(ctx, c, name, true)
	case "schedules PUT":
		out, err = h.putSchedule(ctx, c, name, false)
	case "schedules DELETE":
		out, err = struct{}{}, h.svc.Delete(ctx, c.tenant, c.query.Get("groupName"), name)
	case "schedule-groups GET":
		if name == "" {
			out, err = h.listGroups(ctx, c)
		} else {
			out, err = h.getGroup(ctx, c, name)
		}
	case "schedule-groups POST":
		out, err = h.createGroup(ctx, c, name)
	case "schedule-groups DELETE":
		out, err = struct{}{}, h.svc.DeleteGroup(ctx, c.tenant, name)
	case "tags GET", "tags POST", "tags DELETE":
		out, err = h.tags(ctx, c, r.Method, name)
	default:
		unknown(w, r)
		return
	}
	if err != nil {
		errorOf(log, err).write(w)
		return
	}
	w.Header().Set("Content-Type", contentTypeHeader)
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(out)
}

func unknown(w http.ResponseWriter, r *http.Request) {
	(&apiError{status: http.StatusNotFound, code: codeUnknownOp, message: "no Scheduler operation is " + r.Method + " " + r.URL.EscapedPath()}).write(w)
}

// splitPath splits an escaped path into its resource ("schedules",
// "schedule-groups", "tags") and its one unescaped name segment ("" for
// the collection).
func splitPath(p string) (resource, name string, ok bool) {
	p = strings.TrimPrefix(p, "/")
	resource, seg, _ := strings.Cut(p, "/")
	switch resource {
	case "schedules", "schedule-groups", "tags":
	default:
		return "", "", false
	}
	if strings.Contains(seg, "/") {
		return "", "", false
	}
	name, err := url.PathUnescape(seg)
	if err != nil {
		return "", "", false
	}
	return resource, name, true
}

func decode(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return validation("the request body is not the operation's JSON document: " + err.Error())
	}
	return nil
}

// ARNs, as AWS spells them.
func (h *Handler) scheduleArn(c *call, group, name string) string {
	return "arn:aws:scheduler:" + c.region + ":" + h.account + ":schedule/" + group + "/" + name
}

func (h *Handler) groupArn(c *call, name string) string {
	return "arn:aws:scheduler:" + c.region + ":" + h.account + ":schedule-group/" + name
}

func (h *Handler) putSchedule(ctx context.Context, c *call, name string, create bool) (any, error) {
	var in scheduleInput
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	ns, aerr := named(name, &in)
	if aerr != nil {
		return nil, aerr
	}
	var s *schedule.Schedule
	var err error
	if create {
		s, _, err = h.svc.Create(ctx, c.tenant, ns)
	} else {
		s, err = h.svc.Update(ctx, c.tenant, ns)
	}
	if err != nil {
		return nil, err
	}
	return map[string]string{"ScheduleArn": h.scheduleArn(c, s.Group, s.Name)}, nil
}

// scheduleOutput is GetSchedule's answer.
type scheduleOutput struct {
	ActionAfterCompletion      string             `json:"ActionAfterCompletion"`
	Arn                        string             `json:"Arn"`
	CreationDate               *float64           `json:"CreationDate"`
	Description                string             `json:"Description,omitempty"`
	EndDate                    *float64           `json:"EndDate,omitempty"`
	FlexibleTimeWindow         flexibleTimeWindow `json:"FlexibleTimeWindow"`
	GroupName                  string             `json:"GroupName"`
	LastModificationDate       *float64           `json:"LastModificationDate"`
	Name                       string             `json:"Name"`
	ScheduleExpression         string             `json:"ScheduleExpression"`
	ScheduleExpressionTimezone string             `json:"ScheduleExpressionTimezone"`
	StartDate                  *float64           `json:"StartDate,omitempty"`
	State                      string             `json:"State"`
	Target                     targetShape        `json:"Target"`
}

func (h *Handler) getSchedule(ctx context.Context, c *call, name string) (any, error) {
	s, err := h.svc.Get(ctx, c.tenant, c.query.Get("groupName"), name)
	if err != nil {
		return nil, err
	}
	return h.scheduleOut(c, s), nil
}

func (h *Handler) scheduleOut(c *call, s *schedule.Schedule) scheduleOutput {
	out := scheduleOutput{
		ActionAfterCompletion: string(s.AfterCompletion), Arn: h.scheduleArn(c, s.Group, s.Name),
		CreationDate: epochOf(s.CreatedAt), Description: s.Description, EndDate: epochOf(s.End),
		FlexibleTimeWindow: flexibleTimeWindow{Mode: "OFF"}, GroupName: s.Group, LastModificationDate: epochOf(s.UpdatedAt),
		Name: s.Name, ScheduleExpression: s.Expression, ScheduleExpressionTimezone: s.Timezone,
		StartDate: epochOf(s.Start), State: string(s.State), Target: targetOut(s),
	}
	if out.ActionAfterCompletion == "" {
		out.ActionAfterCompletion = string(schedule.AfterNone)
	}
	if s.FlexWindow > 0 {
		m := int(s.FlexWindow / time.Minute)
		out.FlexibleTimeWindow = flexibleTimeWindow{Mode: "FLEXIBLE", MaximumWindowInMinutes: &m}
	}
	return out
}

// targetOut renders a schedule's target as the Scheduler API shows it.
func targetOut(s *schedule.Schedule) targetShape {
	var spec struct {
		QueueURL       string `json:"queue_url"`
		MessageGroupID string `json:"message_group_id"`
		Function       string `json:"function"`
		Bus            string `json:"bus"`
		Source         string `json:"source"`
		DetailType     string `json:"detail_type"`
	}
	_ = json.Unmarshal(s.Target.Spec, &spec)
	t := targetShape{RoleArn: s.Target.RoleArn}
	switch s.Target.Kind {
	case "sqs":
		// https://sqs.<region>.amazonaws.com/<account>/<queue>, as targetSpec built it.
		if u, err := url.Parse(spec.QueueURL); err == nil {
			host := strings.TrimSuffix(strings.TrimPrefix(u.Host, "sqs."), ".amazonaws.com")
			parts := strings.Split(strings.Trim(u.Path, "/"), "/")
			if len(parts) == 2 {
				t.Arn = "arn:aws:sqs:" + host + ":" + parts[0] + ":" + parts[1]
			}
		}
		if spec.MessageGroupID != "" {
			t.SqsParameters = &sqsParameters{MessageGroupID: spec.MessageGroupID}
		}
	case "lambda":
		t.Arn = spec.Function
	case "eventbridge":
		t.Arn = spec.Bus
		t.EventBridgeParameters = &eventBridgeParameters{DetailType: spec.DetailType, Source: spec.Source}
	default:
		t.Arn = "hourglass:" + s.Target.Kind // a /v1 target kind the Scheduler API cannot name
	}
	if len(s.Payload) > 0 && string(s.Payload) != "null" {
		in := string(s.Payload)
		t.Input = &in
	}
	retries := max(s.Retry.MaxAttempts-1, 0)
	t.RetryPolicy = &retryPolicy{MaximumRetryAttempts: &retries}
	if s.MaxEventAge > 0 {
		age := int(s.MaxEventAge / time.Second)
		t.RetryPolicy.MaximumEventAgeInSeconds = &age
	}
	if s.DeadLetterArn != "" {
		t.DeadLetterConfig = &arnRef{Arn: s.DeadLetterArn}
	}
	return t
}

// intQuery reads an optional integer query parameter within [lo, hi].
func intQuery(q url.Values, name string, def, lo, hi int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, validation(name + ": must be an integer from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi))
	}
	return n, nil
}

type scheduleSummary struct {
	Arn                  string   `json:"Arn"`
	CreationDate         *float64 `json:"CreationDate"`
	GroupName            string   `json:"GroupName"`
	LastModificationDate *float64 `json:"LastModificationDate"`
	Name                 string   `json:"Name"`
	State                string   `json:"State"`
	Target               arnRef   `json:"Target"`
}

func (h *Handler) listSchedules(ctx context.Context, c *call) (any, error) {
	maxN, err := intQuery(c.query, "MaxResults", 100, 1, 100)
	if err != nil {
		return nil, err
	}
	state := c.query.Get("State")
	if state != "" && state != string(schedule.Enabled) && state != string(schedule.Disabled) {
		return nil, validation("State: must be ENABLED or DISABLED")
	}
	if p := c.query.Get("NamePrefix"); len(p) > 64 {
		return nil, validation("NamePrefix: must be at most 64 characters")
	}
	list, next, err := h.svc.List(ctx, c.tenant, app.NamedFilter{
		Group: c.query.Get("ScheduleGroup"), NamePrefix: c.query.Get("NamePrefix"), State: schedule.State(state),
		Max: maxN, Token: c.query.Get("NextToken"),
	})
	if err != nil {
		return nil, err
	}
	out := struct {
		NextToken string            `json:"NextToken,omitempty"`
		Schedules []scheduleSummary `json:"Schedules"`
	}{NextToken: next, Schedules: make([]scheduleSummary, 0, len(list))}
	for _, s := range list {
		out.Schedules = append(out.Schedules, scheduleSummary{
			Arn: h.scheduleArn(c, s.Group, s.Name), CreationDate: epochOf(s.CreatedAt), GroupName: s.Group,
			LastModificationDate: epochOf(s.UpdatedAt), Name: s.Name, State: string(s.State), Target: arnRef{Arn: targetOut(s).Arn},
		})
	}
	return out, nil
}

type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

func tagMap(tags []tag) (map[string]string, error) {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		if _, dup := m[t.Key]; dup {
			return nil, validation("Tags: key " + strconv.Quote(t.Key) + " is given twice")
		}
		m[t.Key] = t.Value
	}
	return m, nil
}

func tagList(m map[string]string) []tag {
	out := make([]tag, 0, len(m))
	for k, v := range m {
		out = append(out, tag{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func (h *Handler) createGroup(ctx context.Context, c *call, name string) (any, error) {
	var in struct {
		ClientToken string `json:"ClientToken"`
		Tags        []tag  `json:"Tags"`
	}
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	tags, err := tagMap(in.Tags)
	if err != nil {
		return nil, err
	}
	g, err := h.svc.CreateGroup(ctx, c.tenant, name, tags)
	if err != nil {
		return nil, err
	}
	return map[string]string{"ScheduleGroupArn": h.groupArn(c, g.Name)}, nil
}

type groupOutput struct {
	Arn                  string   `json:"Arn"`
	CreationDate         *float64 `json:"CreationDate,omitempty"`
	LastModificationDate *float64 `json:"LastModificationDate,omitempty"`
	Name                 string   `json:"Name"`
	State                string   `json:"State"`
}

func (h *Handler) groupOut(c *call, g *schedule.Group) groupOutput {
	return groupOutput{Arn: h.groupArn(c, g.Name), CreationDate: epochOf(g.CreatedAt), LastModificationDate: epochOf(g.UpdatedAt), Name: g.Name, State: groupState(g)}
}

func (h *Handler) getGroup(ctx context.Context, c *call, name string) (any, error) {
	g, err := h.svc.GetGroup(ctx, c.tenant, name)
	if err != nil {
		return nil, err
	}
	return h.groupOut(c, g), nil
}

func (h *Handler) listGroups(ctx context.Context, c *call) (any, error) {
	maxN, err := intQuery(c.query, "MaxResults", 100, 1, 100)
	if err != nil {
		return nil, err
	}
	list, next, err := h.svc.ListGroups(ctx, c.tenant, c.query.Get("NamePrefix"), maxN, c.query.Get("NextToken"))
	if err != nil {
		return nil, err
	}
	out := struct {
		NextToken      string        `json:"NextToken,omitempty"`
		ScheduleGroups []groupOutput `json:"ScheduleGroups"`
	}{NextToken: next, ScheduleGroups: make([]groupOutput, 0, len(list))}
	for _, g := range list {
		out.ScheduleGroups = append(out.ScheduleGroups, h.groupOut(c, g))
	}
	return out, nil
}

// groupOfArn names the group a resource ARN addresses: only schedule
// groups carry tags in the Scheduler API.
func (h *Handler) groupOfArn(arn string) (string, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "scheduler" {
		return "", validation("ResourceArn: must be a schedule group ARN (arn:aws:scheduler:<region>:<account>:schedule-group/<name>)")
	}
	if parts[4] != h.account {
		return "", &app.NotFound{What: "Resource " + arn}
	}
	g, ok := strings.CutPrefix(parts[5], "schedule-group/")
	if !ok || g == "" || strings.Contains(g, "/") {
		return "", validation("ResourceArn: only schedule groups have tags; must be arn:aws:scheduler:<region>:<account>:schedule-group/<name>")
	}
	return g, nil
}

func (h *Handler) tags(ctx context.Context, c *call, method, arn string) (any, error) {
	group, err := h.groupOfArn(arn)
	if err != nil {
		return nil, err
	}
	switch method {
	case http.MethodGet:
		g, err := h.svc.GetGroup(ctx, c.tenant, group)
		if err != nil {
			return nil, err
		}
		return map[string][]tag{"Tags": tagList(g.Tags)}, nil
	case http.MethodPost:
		var in struct {
			Tags []tag `json:"Tags"`
		}
		if err := decode(c.body, &in); err != nil {
			return nil, err
		}
		if len(in.Tags) == 0 {
			return nil, validation("Tags: at least one tag is required")
		}
		m, err := tagMap(in.Tags)
		if err != nil {
			return nil, err
		}
		return struct{}{}, h.svc.TagGroup(ctx, c.tenant, group, m)
	default:
		keys := c.query["TagKeys"]
		if len(keys) == 0 {
			return nil, validation("TagKeys: at least one key is required")
		}
		return struct{}{}, h.svc.UntagGroup(ctx, c.tenant, group, keys)
	}
}

// groupState is a group's State as EventBridge Scheduler shows it.
func groupState(g *schedule.Group) string {
	if g.Deleting {
		return "DELETING"
	}
	return "ACTIVE"
}
