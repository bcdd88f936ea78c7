package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hourglass-sched/hourglass/pkg/client"
)

func (a *app) dlqCmd() *cobra.Command {
	return a.group("dlq", "List and re-run your dead letters (FAILED tasks)",
		`  hourglass dlq list
  hourglass dlq redrive 06h2k3v0rs0018j1cqk4m2h7a0
  hourglass dlq redrive --all --attempts 5`,
		a.dlqListCmd(), a.dlqRedriveCmd())
}

func (a *app) dlqListCmd() *cobra.Command {
	var lf listFlags
	c := &cobra.Command{
		Use:   "list",
		Short: "List your FAILED tasks, newest due first",
		Long: `List your FAILED tasks (those that used up their attempts, or failed
permanently), newest due first, with their last error. Works in every
deployment: the API reads a sparse index that only failures write.`,
		Example: `  hourglass dlq list
  hourglass dlq list --all -o json | jq -r '.tasks[].id'`,
		Args: noArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			cl, err := a.conn()
			if err != nil {
				return err
			}
			return a.listTasks(lf, func(o client.ListOptions) (*client.Page, error) { return cl.ListFailed(a.ctx, o) }, client.ListOptions{})
		},
	}
	lf.add(c, "FAILED tasks")
	return c
}

func (a *app) dlqRedriveCmd() *cobra.Command {
	var all bool
	var attempts int
	c := &cobra.Command{
		Use:   "redrive (ID... | --all)",
		Short: "Run FAILED tasks again, each with a fresh budget of attempts",
		Long: `Run FAILED tasks again: each becomes RETRYING, due now, with --attempts
more attempts (default: the API's, 3). Name the tasks, or --all for every
FAILED task of yours. A task that is no longer FAILED is reported and left
alone. With --all, a progress bar is drawn on stderr when it is a terminal.`,
		Example: `  hourglass dlq redrive 06h2k3v0rs0018j1cqk4m2h7a0
  hourglass dlq redrive --all
  hourglass dlq redrive --all --attempts 5 -o json`,
		Args: func(_ *cobra.Command, args []string) error {
			switch {
			case all && len(args) > 0:
				return usagef("give task IDs or --all, not both")
			case !all && len(args) == 0:
				return usagef("give task IDs, or --all for every FAILED task")
			}
			return nil
		},
		RunE: func(_ *cobra.Command, ids []string) error {
			cl, err := a.conn()
			if err != nil {
				return err
			}
			if all {
				// Collect first: retried tasks leave the index as we go,
				// which would shift the pages under us.
				o := client.ListOptions{Limit: 100}
				for {
					p, err := cl.ListFailed(a.ctx, o)
					if err != nil {
						return apiFailure(err)
					}
					for _, t := range p.Tasks {
						ids = append(ids, t.ID)
					}
					if p.NextPageToken == "" {
						break
					}
					o.PageToken = p.NextPageToken
				}
				if len(ids) == 0 {
					if a.output == "json" {
						return a.printJSON(map[string]any{"tasks": []client.Task{}})
					}
					_, _ = fmt.Fprintln(a.stderr, "no FAILED tasks")
					return nil
				}
			}
			bar := &progress{w: a.stderr, on: a.stderrTTY && len(ids) > 1, label: "redriving", total: len(ids)}
			return a.eachTask(ids, func(id string) (*client.Task, error) { return cl.Retry(a.ctx, id, attempts) }, bar)
		},
	}
	c.Flags().BoolVar(&all, "all", false, "every FAILED task of yours")
	c.Flags().IntVar(&attempts, "attempts", 0, "the fresh budget of attempts (default: the API's, 3)")
	return c
}
