package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hourglass-sched/hourglass/pkg/client"
)

func (a *app) tasksCmd() *cobra.Command {
	return a.group("tasks", "Create, show, list, cancel and reschedule tasks",
		`  hourglass tasks create --due +10s --webhook http://127.0.0.1:9000/hook
  hourglass tasks get 06h2k3v0rs0018j1cqk4m2h7a0
  hourglass tasks list --state SCHEDULED -o json`,
		a.tasksCreateCmd(), a.tasksGetCmd(), a.tasksListCmd(), a.tasksCancelCmd(), a.tasksRescheduleCmd())
}

// parseWhen reads a due time: RFC 3339, or a duration from now ("+90s",
// "10m", "1h30m").
func parseWhen(flag, v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(strings.TrimPrefix(v, "+")); err == nil {
		return now.Add(d), nil
	}
	return time.Time{}, usagef("--%s %q: give an RFC 3339 time (2030-01-02T15:04:05Z) or a duration from now (+90s, 10m, 1h30m)", flag, v)
}

// parseLabels reads repeated key=value flags.
func parseLabels(flag string, vs []string) (map[string]string, error) {
	if len(vs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(vs))
	for _, v := range vs {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return nil, usagef("--%s %q: give key=value", flag, v)
		}
		out[k] = val
	}
	return out, nil
}

// targetFlags are the flags that say where a task or schedule goes.
type targetFlags struct {
	webhook, target, payload string
	maxAttempts              int
}

func (f *targetFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.webhook, "webhook", "", "webhook URL to call (POST); or --target")
	c.Flags().StringVar(&f.target, "target", "", `the target as a JSON object, e.g. '{"kind":"sqs","queue_url":"…"}'`)
	c.Flags().StringVar(&f.payload, "payload", "", "the payload, as JSON")
	c.Flags().IntVar(&f.maxAttempts, "max-attempts", 0, "attempts before the task fails (default: the API's, 3)")
}

func (f *targetFlags) parse() (client.Target, any, *client.Retry, error) {
	var t client.Target
	switch {
	case f.webhook != "" && f.target != "":
		return nil, nil, nil, usagef("give --webhook or --target, not both")
	case f.webhook != "":
		t = client.Webhook(f.webhook)
	case f.target != "":
		if err := json.Unmarshal([]byte(f.target), &t); err != nil || t == nil {
			return nil, nil, nil, usagef("--target must be a JSON object: %v", err)
		}
	default:
		return nil, nil, nil, usagef("give a target: --webhook URL or --target JSON")
	}
	var payload any
	if f.payload != "" {
		if !json.Valid([]byte(f.payload)) {
			return nil, nil, nil, usagef("--payload must be JSON, e.g. '{\"order\": 42}'")
		}
		payload = json.RawMessage(f.payload)
	}
	var retry *client.Retry
	if f.maxAttempts != 0 {
		retry = &client.Retry{MaxAttempts: f.maxAttempts}
	}
	return t, payload, retry, nil
}

func (a *app) tasksCreateCmd() *cobra.Command {
	var tf targetFlags
	var due, key, targetKey, limitKey string
	var labels []string
	c := &cobra.Command{
		Use:   "create --due WHEN (--webhook URL | --target JSON)",
		Short: "Schedule a task",
		Long: `Schedule a task: call a webhook (or send to SQS, EventBridge or Lambda) at
--due, an RFC 3339 time or a duration from now. --idempotency-key makes the
create safe to repeat: the same key and body return the task created first.`,
		Example: `  hourglass tasks create --due +10s --webhook http://127.0.0.1:9000/hook --payload '{"order": 42}'
  hourglass tasks create --due 2030-01-02T09:00:00Z --webhook https://example.com/hook \
    --label customer=c-42 --max-attempts 5 --idempotency-key order-42-reminder
  hourglass tasks create --due 1h --target '{"kind":"sqs","queue_url":"https://sqs.eu-west-1.amazonaws.com/123456789012/jobs"}'`,
		Args: noArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if due == "" {
				return usagef("--due is required")
			}
			at, err := parseWhen("due", due, time.Now())
			if err != nil {
				return err
			}
			target, payload, retry, err := tf.parse()
			if err != nil {
				return err
			}
			lm, err := parseLabels("label", labels)
			if err != nil {
				return err
			}
			cl, err := a.conn()
			if err != nil {
				return err
			}
			t, _, err := cl.Create(a.ctx, client.CreateTask{DueAt: at, Target: target, Payload: payload, Retry: retry, Labels: lm, IdempotencyKey: targetKey, LimitKey: limitKey}, key)
			if err != nil {
				return apiFailure(err)
			}
			return a.showTask(t)
		},
	}
	c.Flags().StringVar(&due, "due", "", "when to run: RFC 3339 time, or a duration from now (+90s, 10m)")
	c.Flags().StringVar(&key, "idempotency-key", "", "Idempotency-Key of the create request: repeating it returns the first task")
	c.Flags().StringVar(&targetKey, "target-key", "", "the idempotency key sent to the target (default: the task ID)")
	c.Flags().StringArrayVar(&labels, "label", nil, "key=value label (repeat for more)")
	c.Flags().StringVar(&limitKey, "limit-key", "", "the limit key its calls count against (see hourglass limits)")
	tf.add(c)
	return c
}

func (a *app) tasksGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show a task, with its attempts",
		Example: `  hourglass tasks get 06h2k3v0rs0018j1cqk4m2h7a0
  hourglass tasks get 06h2k3v0rs0018j1cqk4m2h7a0 -o json | jq -r .state`,
		Args: exactArgs(1, "a task ID"),
		RunE: func(_ *cobra.Command, args []string) error {
			cl, err := a.conn()
			if err != nil {
				return err
			}
			t, err := cl.Get(a.ctx, args[0])
			if err != nil {
				return apiFailure(err)
			}
			return a.showTask(t)
		},
	}
}

// showTask prints one task: its fields and attempts, or JSON.
func (a *app) showTask(t *client.Task) error {
	if a.output == "json" {
		return a.printJSON(t)
	}
	a.fields([][2]string{
		{"id", t.ID}, {"state", t.State}, {"due_at", ts(t.DueAt)}, {"target", targetText(t.Target)},
		{"labels", labelsText(t.Labels)},
		{"attempts", fmt.Sprintf("%d of %d", t.AttemptCount, t.Retry.MaxAttempts)},
		{"next_attempt_at", tsp(t.NextAttemptAt)}, {"last_error", t.LastError},
		{"created_at", ts(t.CreatedAt)}, {"finished_at", tsp(t.FinishedAt)},
		{"replaced_by", t.ReplacedBy}, {"replaces", t.Replaces},
	})
	if len(t.Attempts) > 0 {
		_, _ = fmt.Fprintln(a.stdout)
		rows := make([][]string, 0, len(t.Attempts))
		for _, at := range t.Attempts {
			status := ""
			if at.StatusCode != 0 {
				status = strconv.Itoa(at.StatusCode)
			}
			rows = append(rows, []string{strconv.Itoa(at.N), ts(at.StartedAt), at.EndedAt.Sub(at.StartedAt).Round(time.Millisecond).String(), at.Outcome, status, clip(at.Error, 60)})
		}
		a.table([]string{"#", "STARTED", "TOOK", "OUTCOME", "STATUS", "ERROR"}, rows)
	}
	return nil
}

// taskRows is a list of tasks as table rows.
func (a *app) taskTable(tasks []client.Task) {
	rows := make([][]string, 0, len(tasks))
	for _, t := range tasks {
		rows = append(rows, []string{t.ID, t.State, ts(t.DueAt), strconv.Itoa(t.AttemptCount), clip(targetText(t.Target), 48), clip(t.LastError, 40)})
	}
	a.table([]string{"ID", "STATE", "DUE", "ATTEMPTS", "TARGET", "LAST ERROR"}, rows)
}

// listFlags select a page (or all pages) of a listing.
type listFlags struct {
	limit     int
	pageToken string
	all       bool
}

func (f *listFlags) add(c *cobra.Command, what string) {
	c.Flags().IntVar(&f.limit, "limit", 0, "page size, 1-100 (default: the API's, 50)")
	c.Flags().StringVar(&f.pageToken, "page-token", "", "continue from a previous page's next_page_token")
	c.Flags().BoolVar(&f.all, "all", false, "every page: all the "+what)
}

// listTasks prints one page, or every page with --all, of a task listing.
func (a *app) listTasks(lf listFlags, page func(client.ListOptions) (*client.Page, error), o client.ListOptions) error {
	o.Limit, o.PageToken = lf.limit, lf.pageToken
	out := client.Page{Tasks: []client.Task{}}
	for {
		p, err := page(o)
		if err != nil {
			return apiFailure(err)
		}
		out.Tasks = append(out.Tasks, p.Tasks...)
		out.NextPageToken = p.NextPageToken
		if !lf.all || p.NextPageToken == "" {
			break
		}
		o.PageToken = p.NextPageToken
	}
	if a.output == "json" {
		return a.printJSON(out)
	}
	a.taskTable(out.Tasks)
	if out.NextPageToken != "" {
		_, _ = fmt.Fprintf(a.stderr, "more: --page-token %s (or --all)\n", out.NextPageToken)
	}
	return nil
}

func (a *app) tasksListCmd() *cobra.Command {
	var lf listFlags
	var states, labels []string
	var after, before string
	c := &cobra.Command{
		Use:   "list",
		Short: "List your tasks, newest due first",
		Long: `List your tasks, newest due first. Needs the deployment's list index
(HOURGLASS_LIST_INDEX=1; on in make dev), except --state FAILED alone, which
reads the dead letters' own index (as hourglass dlq list does).`,
		Example: `  hourglass tasks list
  hourglass tasks list -o json
  hourglass tasks list --state SCHEDULED,RETRYING --label customer=c-42 --all
  hourglass tasks list --due-after 2030-01-01T00:00:00Z --limit 10`,
		Args: noArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			o := client.ListOptions{}
			for _, s := range states {
				for st := range strings.SplitSeq(s, ",") {
					if st = strings.ToUpper(strings.TrimSpace(st)); st != "" {
						o.States = append(o.States, st)
					}
				}
			}
			var err error
			if o.Labels, err = parseLabels("label", labels); err != nil {
				return err
			}
			now := time.Now()
			if after != "" {
				if o.DueAfter, err = parseWhen("due-after", after, now); err != nil {
					return err
				}
			}
			if before != "" {
				if o.DueBefore, err = parseWhen("due-before", before, now); err != nil {
					return err
				}
			}
			cl, err := a.conn()
			if err != nil {
				return err
			}
			return a.listTasks(lf, func(o client.ListOptions) (*client.Page, error) { return cl.List(a.ctx, o) }, o)
		},
	}
	c.Flags().StringSliceVar(&states, "state", nil, "states, comma-separated (SCHEDULED, DISPATCHED, RUNNING, RETRYING, SUCCEEDED, FAILED, CANCELLED)")
	c.Flags().StringArrayVar(&labels, "label", nil, "key=value a task must carry (repeat: all must match)")
	c.Flags().StringVar(&after, "due-after", "", "only tasks due after this time (RFC 3339, or a duration from now)")
	c.Flags().StringVar(&before, "due-before", "", "only tasks due before this time (RFC 3339, or a duration from now)")
	lf.add(c, "tasks")
	return c
}

func (a *app) tasksCancelCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID...",
		Short: "Cancel tasks that have not run yet",
		Long: `Cancel one or more tasks (idempotent: a cancelled task stays cancelled).
A task that has run, or is about to, cannot be cancelled (the API answers
409 and says why); an occurrence of a schedule is stopped by pausing or
deleting the schedule.`,
		Example: `  hourglass tasks cancel 06h2k3v0rs0018j1cqk4m2h7a0
  hourglass tasks cancel 06h2k3v0rs0018j1cqk4m2h7a0 06h2k3v1bo002t3eqv1s7h8k3g -o json`,
		Args: minArgs(1, "at least one task ID"),
		RunE: func(_ *cobra.Command, args []string) error {
			cl, err := a.conn()
			if err != nil {
				return err
			}
			return a.eachTask(args, func(id string) (*client.Task, error) { return cl.Cancel(a.ctx, id) }, nil)
		},
	}
}

// eachTask applies op to every ID, printing each result; it goes on past
// failures and exits with the worst code (3 when every failure is a 404).
// bar, when not nil, steps after each ID and is finished before the output.
func (a *app) eachTask(ids []string, op func(id string) (*client.Task, error), bar *progress) error {
	if len(ids) == 1 {
		t, err := op(ids[0])
		if err != nil {
			return apiFailure(err)
		}
		return a.showTask(t)
	}
	var done []client.Task
	var firstErr error
	code := exitOK
	for _, id := range ids {
		t, err := op(id)
		if bar != nil {
			bar.step()
		}
		if err != nil {
			var fe *exitError
			errors.As(apiFailure(err), &fe)
			_, _ = fmt.Fprintf(a.stderr, "%s: ", id)
			a.report(err)
			if code == exitOK || (code == exitNotFound && fe.code != exitNotFound) {
				code = fe.code
			}
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		done = append(done, *t)
	}
	if bar != nil {
		bar.finish()
	}
	if a.output == "json" {
		if done == nil {
			done = []client.Task{}
		}
		if err := a.printJSON(map[string]any{"tasks": done}); err != nil {
			return err
		}
	} else {
		a.taskTable(done)
	}
	if firstErr != nil {
		return &exitError{code: code, err: fmt.Errorf("%d of %d failed", len(ids)-len(done), len(ids))}
	}
	return nil
}

func (a *app) tasksRescheduleCmd() *cobra.Command {
	var due string
	c := &cobra.Command{
		Use:   "reschedule ID --due WHEN",
		Short: "Move a task that has not been dispatched to another time",
		Long: `Move a SCHEDULED task to another due time. A new due time is a new task
ID (the ID locates the task): the old task becomes CANCELLED with
replaced_by naming the new one, which is printed.`,
		Example: `  hourglass tasks reschedule 06h2k3v0rs0018j1cqk4m2h7a0 --due +2h
  hourglass tasks reschedule 06h2k3v0rs0018j1cqk4m2h7a0 --due 2030-01-02T09:00:00+01:00 -o json`,
		Args: exactArgs(1, "a task ID"),
		RunE: func(_ *cobra.Command, args []string) error {
			if due == "" {
				return usagef("--due is required")
			}
			at, err := parseWhen("due", due, time.Now())
			if err != nil {
				return err
			}
			cl, err := a.conn()
			if err != nil {
				return err
			}
			t, err := cl.Update(a.ctx, args[0], client.Patch{DueAt: &at})
			if err != nil {
				return apiFailure(err)
			}
			return a.showTask(t)
		},
	}
	c.Flags().StringVar(&due, "due", "", "the new due time: RFC 3339, or a duration from now (+90s, 10m)")
	return c
}
