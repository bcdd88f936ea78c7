package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/hourglass-sched/hourglass/pkg/client"
)

func (a *app) schedulesCmd() *cobra.Command {
	return a.group("schedules", "Manage recurring schedules and preview their fire times",
		`  hourglass schedules create 'cron(0 9 ? * MON-FRI *)' --timezone Europe/Paris --webhook https://example.com/hook
  hourglass schedules preview 'rate(15 minutes)' --count 4
  hourglass schedules list`,
		a.schedulesCreateCmd(), a.schedulesGetCmd(), a.schedulesListCmd(),
		a.schedulesStateCmd("pause", "DISABLED", "Pause a schedule: no further occurrences until resumed"),
		a.schedulesStateCmd("resume", "ENABLED", "Resume a paused schedule"),
		a.schedulesDeleteCmd(), a.schedulesPreviewCmd(), a.schedulesRunsCmd())
}

func (a *app) schedulesCreateCmd() *cobra.Command {
	var tf targetFlags
	var tz, misfire string
	var labels []string
	var disabled bool
	c := &cobra.Command{
		Use:   "create EXPRESSION (--webhook URL | --target JSON)",
		Short: "Create a recurring schedule",
		Long: `Create a recurring schedule. EXPRESSION is in EventBridge Scheduler syntax:
cron(minutes hours day-of-month month day-of-week year), rate(value unit) or
at(yyyy-mm-ddThh:mm:ss), evaluated in --timezone (an IANA name; default UTC).
Each fire time becomes a task.`,
		Example: `  hourglass schedules create 'cron(0 9 ? * MON-FRI *)' --timezone Europe/Paris --webhook https://example.com/standup
  hourglass schedules create 'rate(5 minutes)' --webhook http://127.0.0.1:9000/hook --payload '{"job": "sync"}' --label team=ops
  hourglass schedules create 'at(2030-01-02T09:00:00)' --timezone America/New_York --webhook https://example.com/once --disabled`,
		Args: exactArgs(1, "an expression, e.g. 'rate(5 minutes)'"),
		RunE: func(_ *cobra.Command, args []string) error {
			target, payload, retry, err := tf.parse()
			if err != nil {
				return err
			}
			lm, err := parseLabels("label", labels)
			if err != nil {
				return err
			}
			cs := client.CreateSchedule{Expression: args[0], Timezone: tz, Target: target, Payload: payload, Retry: retry, Labels: lm, MisfirePolicy: misfire}
			if disabled {
				cs.State = "DISABLED"
			}
			cl, err := a.conn()
			if err != nil {
				return err
			}
			s, err := cl.CreateSchedule(a.ctx, cs)
			if err != nil {
				return apiFailure(err)
			}
			return a.showSchedule(s)
		},
	}
	c.Flags().StringVar(&tz, "timezone", "", "IANA time zone of the expression (default UTC)")
	c.Flags().StringVar(&misfire, "misfire-policy", "", "what a missed fire time does: run_once (default), skip or run_all")
	c.Flags().StringArrayVar(&labels, "label", nil, "key=value label of every occurrence (repeat for more)")
	c.Flags().BoolVar(&disabled, "disabled", false, "create it paused")
	tf.add(c)
	return c
}

func (a *app) showSchedule(s *client.Schedule) error {
	if a.output == "json" {
		return a.printJSON(s)
	}
	a.fields([][2]string{
		{"id", s.ID}, {"state", s.State}, {"expression", s.Expression}, {"timezone", s.Timezone},
		{"target", targetText(s.Target)}, {"labels", labelsText(s.Labels)},
		{"misfire_policy", s.MisfirePolicy}, {"start_at", tsp(s.StartAt)}, {"end_at", tsp(s.EndAt)},
		{"paused_at", tsp(s.PausedAt)}, {"version", strconv.FormatInt(s.Version, 10)},
		{"created_at", ts(s.CreatedAt)}, {"updated_at", ts(s.UpdatedAt)},
	})
	return nil
}

func (a *app) schedulesGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "get ID",
		Short:   "Show a schedule",
		Example: "  hourglass schedules get sch_01hx3v9d4m\n  hourglass schedules get sch_01hx3v9d4m -o json",
		Args:    exactArgs(1, "a schedule ID"),
		RunE: func(_ *cobra.Command, args []string) error {
			cl, err := a.conn()
			if err != nil {
				return err
			}
			s, err := cl.GetSchedule(a.ctx, args[0])
			if err != nil {
				return apiFailure(err)
			}
			return a.showSchedule(s)
		},
	}
}

func (a *app) schedulesListCmd() *cobra.Command {
	var lf listFlags
	c := &cobra.Command{
		Use:     "list",
		Short:   "List your schedules, in ID order",
		Example: "  hourglass schedules list\n  hourglass schedules list --all -o json",
		Args:    noArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			cl, err := a.conn()
			if err != nil {
				return err
			}
			o := client.ScheduleListOptions{PageSize: lf.limit, PageToken: lf.pageToken}
			out := client.SchedulePage{Schedules: []client.Schedule{}}
			for {
				p, err := cl.ListSchedules(a.ctx, o)
				if err != nil {
					return apiFailure(err)
				}
				out.Schedules = append(out.Schedules, p.Schedules...)
				out.NextPageToken = p.NextPageToken
				if !lf.all || p.NextPageToken == "" {
					break
				}
				o.PageToken = p.NextPageToken
			}
			if a.output == "json" {
				return a.printJSON(out)
			}
			rows := make([][]string, 0, len(out.Schedules))
			for _, s := range out.Schedules {
				rows = append(rows, []string{s.ID, s.State, s.Expression, s.Timezone, clip(targetText(s.Target), 48)})
			}
			a.table([]string{"ID", "STATE", "EXPRESSION", "TIMEZONE", "TARGET"}, rows)
			if out.NextPageToken != "" {
				_, _ = fmt.Fprintf(a.stderr, "more: --page-token %s (or --all)\n", out.NextPageToken)
			}
			return nil
		},
	}
	lf.add(c, "schedules")
	return c
}

// schedulesStateCmd is pause (state DISABLED) or resume (ENABLED).
func (a *app) schedulesStateCmd(verb, state, short string) *cobra.Command {
	return &cobra.Command{
		Use:     verb + " ID",
		Short:   short,
		Example: "  hourglass schedules " + verb + " sch_01hx3v9d4m",
		Args:    exactArgs(1, "a schedule ID"),
		RunE: func(_ *cobra.Command, args []string) error {
			cl, err := a.conn()
			if err != nil {
				return err
			}
			st := state
			s, err := cl.UpdateSchedule(a.ctx, args[0], client.SchedulePatch{State: &st})
			if err != nil {
				return apiFailure(err)
			}
			return a.showSchedule(s)
		},
	}
}

func (a *app) schedulesDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "delete ID",
		Short:   "Delete a schedule (its pending occurrence is cancelled)",
		Example: "  hourglass schedules delete sch_01hx3v9d4m",
		Args:    exactArgs(1, "a schedule ID"),
		RunE: func(_ *cobra.Command, args []string) error {
			cl, err := a.conn()
			if err != nil {
				return err
			}
			if err := cl.DeleteSchedule(a.ctx, args[0]); err != nil {
				return apiFailure(err)
			}
			if a.output == "json" {
				return a.printJSON(map[string]any{"id": args[0], "deleted": true})
			}
			_, _ = fmt.Fprintf(a.stdout, "deleted %s\n", args[0])
			return nil
		},
	}
}

func (a *app) schedulesPreviewCmd() *cobra.Command {
	var tz, after, start string
	var count int
	c := &cobra.Command{
		Use:   "preview EXPRESSION",
		Short: "Show the next fire times of an expression, in its time zone and in UTC",
		Long: `Show the next fire times of an expression (nothing is created), in the
expression's time zone and in UTC, daylight-saving changes included.`,
		Example: `  hourglass schedules preview 'cron(0 9 ? * MON-FRI *)' --timezone Europe/Paris
  hourglass schedules preview 'rate(90 minutes)' --count 3 --start-at 2030-01-01T00:00:00Z
  hourglass schedules preview 'cron(30 2 * * ? *)' --timezone America/New_York --after 2030-03-01T00:00:00Z -o json`,
		Args: exactArgs(1, "an expression, e.g. 'cron(0 9 ? * MON-FRI *)'"),
		RunE: func(_ *cobra.Command, args []string) error {
			o := client.PreviewOptions{Expression: args[0], Timezone: tz, Count: count}
			var err error
			now := time.Now()
			if after != "" {
				if o.After, err = parseWhen("after", after, now); err != nil {
					return err
				}
			}
			if start != "" {
				if o.StartAt, err = parseWhen("start-at", start, now); err != nil {
					return err
				}
			}
			loc := time.UTC
			if tz != "" {
				if loc, err = time.LoadLocation(tz); err != nil {
					loc = nil // the API names the bad field; show UTC only
				}
			}
			cl, err := a.conn()
			if err != nil {
				return err
			}
			times, err := cl.Preview(a.ctx, o)
			if err != nil {
				return apiFailure(err)
			}
			if a.output == "json" {
				zone := tz
				if zone == "" {
					zone = "UTC"
				}
				return a.printJSON(map[string]any{"expression": args[0], "timezone": zone, "fire_times": times})
			}
			rows := make([][]string, 0, len(times))
			for _, t := range times {
				local := ""
				if loc != nil {
					local = t.In(loc).Format("Mon 2006-01-02 15:04:05 MST")
				}
				rows = append(rows, []string{local, t.UTC().Format(time.RFC3339)})
			}
			zone := "UTC"
			if tz != "" {
				zone = tz
			}
			a.table([]string{"IN " + zone, "UTC"}, rows)
			return nil
		},
	}
	c.Flags().StringVar(&tz, "timezone", "", "IANA time zone of the expression (default UTC)")
	c.Flags().IntVar(&count, "count", 0, "how many fire times, 1-100 (default: the API's, 10)")
	c.Flags().StringVar(&after, "after", "", "fire times strictly after this (RFC 3339 or a duration from now; default now)")
	c.Flags().StringVar(&start, "start-at", "", "anchors a rate() expression (default the Unix epoch)")
	return c
}

func (a *app) schedulesRunsCmd() *cobra.Command {
	var limit int
	c := &cobra.Command{
		Use:   "runs ID",
		Short: "Show a schedule's past runs with their outcomes, and its next fire times",
		Example: `  hourglass schedules runs sch_01hx3v9d4m
  hourglass schedules runs sch_01hx3v9d4m --limit 50 -o json`,
		Args: exactArgs(1, "a schedule ID"),
		RunE: func(_ *cobra.Command, args []string) error {
			cl, err := a.conn()
			if err != nil {
				return err
			}
			o, err := cl.Occurrences(a.ctx, args[0], limit)
			if err != nil {
				return apiFailure(err)
			}
			if a.output == "json" {
				return a.printJSON(o)
			}
			rows := make([][]string, 0, len(o.Occurrences)+len(o.Upcoming))
			for _, r := range o.Occurrences {
				rows = append(rows, []string{ts(r.At), ts(r.DueAt), r.TaskID, r.State})
			}
			for _, u := range o.Upcoming {
				rows = append(rows, []string{ts(u.At), ts(u.DueAt), "", "upcoming"})
			}
			a.table([]string{"FIRE TIME", "DUE", "TASK", "STATE"}, rows)
			return nil
		},
	}
	c.Flags().IntVar(&limit, "limit", 0, "how many past runs (default: the API's)")
	return c
}
