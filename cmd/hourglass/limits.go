package main

import (
	"strconv"

	"github.com/spf13/cobra"

	"github.com/hourglass-sched/hourglass/pkg/client"
)

func (a *app) limitsCmd() *cobra.Command {
	return a.group("limits", "Set, show and remove per-key concurrency and rate limits",
		`  hourglass limits put api.example.com --max-concurrency 5 --per-second 20
  hourglass limits list
  hourglass limits get api.example.com -o json
  hourglass limits delete api.example.com`,
		a.limitsPutCmd(), a.limitsGetCmd(), a.limitsListCmd(), a.limitsDeleteCmd())
}

func (a *app) limitsPutCmd() *cobra.Command {
	var conc, rate int
	c := &cobra.Command{
		Use:   "put KEY",
		Short: "Set a key's limits (a flag left out is unlimited)",
		Long: `Set the limits of KEY: tasks that name it as their limit_key then run at
most --max-concurrency at once and start at most --per-second in any one
second, across every worker. A task that finds its key saturated waits; it
is neither failed nor charged an attempt. A flag left out is unlimited.`,
		Example: `  hourglass limits put api.example.com --max-concurrency 5 --per-second 20
  hourglass limits put api.example.com --per-second 2`,
		Args: exactArgs(1, "a limit key"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := a.conn()
			if err != nil {
				return err
			}
			var mc, ps *int
			if cmd.Flags().Changed("max-concurrency") {
				mc = &conc
			}
			if cmd.Flags().Changed("per-second") {
				ps = &rate
			}
			l, err := cl.PutLimit(a.ctx, args[0], mc, ps)
			if err != nil {
				return apiFailure(err)
			}
			return a.showLimit(l)
		},
	}
	c.Flags().IntVar(&conc, "max-concurrency", 0, "at most this many calls at once (1-1000)")
	c.Flags().IntVar(&rate, "per-second", 0, "at most this many calls started in any one second (1-10000)")
	return c
}

func (a *app) limitsGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "get KEY",
		Short:   "Show a key's limits",
		Example: `  hourglass limits get api.example.com`,
		Args:    exactArgs(1, "a limit key"),
		RunE: func(_ *cobra.Command, args []string) error {
			cl, err := a.conn()
			if err != nil {
				return err
			}
			l, err := cl.GetLimit(a.ctx, args[0])
			if err != nil {
				return apiFailure(err)
			}
			return a.showLimit(l)
		},
	}
}

func (a *app) limitsListCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List your limits, by key",
		Example: `  hourglass limits list -o json`,
		Args:    noArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			cl, err := a.conn()
			if err != nil {
				return err
			}
			ls, err := cl.ListLimits(a.ctx)
			if err != nil {
				return apiFailure(err)
			}
			if a.output == "json" {
				if ls == nil {
					ls = []client.Limit{}
				}
				return a.printJSON(map[string]any{"limits": ls})
			}
			rows := make([][]string, 0, len(ls))
			for _, l := range ls {
				rows = append(rows, []string{l.Key, limitText(l.MaxConcurrency), limitText(l.PerSecond), ts(l.UpdatedAt)})
			}
			a.table([]string{"KEY", "MAX_CONCURRENCY", "PER_SECOND", "UPDATED_AT"}, rows)
			return nil
		},
	}
}

func (a *app) limitsDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "delete KEY",
		Short:   "Remove a key's limits (its tasks then run unlimited)",
		Example: `  hourglass limits delete api.example.com`,
		Args:    exactArgs(1, "a limit key"),
		RunE: func(_ *cobra.Command, args []string) error {
			cl, err := a.conn()
			if err != nil {
				return err
			}
			if err := cl.DeleteLimit(a.ctx, args[0]); err != nil {
				return apiFailure(err)
			}
			return nil
		},
	}
}

// showLimit prints one limit: its fields, or JSON.
func (a *app) showLimit(l *client.Limit) error {
	if a.output == "json" {
		return a.printJSON(l)
	}
	a.fields([][2]string{
		{"key", l.Key}, {"max_concurrency", limitText(l.MaxConcurrency)}, {"per_second", limitText(l.PerSecond)},
		{"updated_at", ts(l.UpdatedAt)},
	})
	return nil
}

func limitText(n *int) string {
	if n == nil {
		return "unlimited"
	}
	return strconv.Itoa(*n)
}
