package main

import (
	"fmt"
	"net/http"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/spf13/cobra"

	"github.com/hourglass-sched/hourglass/pkg/console"
)

// consoleCmd serves the web console on loopback, talking to the API with
// the CLI's own credentials: no console endpoint is exposed to secure.
func (a *app) consoleCmd() *cobra.Command {
	var addr, taskDLQ string
	c := &cobra.Command{
		Use:   "console",
		Short: "Serve the web console on 127.0.0.1, with this CLI's credentials",
		Long: `Serve the web console (overview, tasks, schedules, dead letters) on a
loopback address, talking to the API as this CLI does: HOURGLASS_API and
HOURGLASS_TOKEN, or --sigv4. It refuses any address that is not loopback,
checks Host and Origin, and every form carries a CSRF token. Ctrl-C stops it.`,
		Example: `  HOURGLASS_TOKEN=dev-acme hourglass console
  hourglass console --addr 127.0.0.1:9099
  hourglass --api https://abc123.execute-api.eu-west-1.amazonaws.com --sigv4 console`,
		Args: noArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			cl, err := a.conn()
			if err != nil {
				return err
			}
			opts := console.Options{API: cl.BaseURL(), Authorize: cl.Authorize}
			if a.sigv4 {
				// A deployed stack: the overview reads its CloudWatch
				// metrics with the same AWS credentials.
				var lo []func(*awsconfig.LoadOptions) error
				if a.region != "" {
					lo = append(lo, awsconfig.WithRegion(a.region))
				}
				cfg, err := awsconfig.LoadDefaultConfig(a.ctx, lo...)
				if err != nil {
					return &exitError{code: exitFailed, err: fmt.Errorf("load AWS credentials: %w", err)}
				}
				opts.Stats = (&console.CloudWatchStats{CW: cloudwatch.NewFromConfig(cfg), DLQName: taskDLQ}).Stats
			}
			h, err := console.New(opts)
			if err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			err = console.ListenAndServe(a.ctx, addr, h, func(url string) {
				_, _ = fmt.Fprintf(a.stderr, "hourglass: console on %s (Ctrl-C stops it)\n", url)
			})
			if err != nil && err != http.ErrServerClosed {
				return &exitError{code: exitFailed, err: err}
			}
			return nil
		},
	}
	c.Flags().StringVar(&addr, "addr", console.DefaultAddr, "loopback address to serve the console on")
	c.Flags().StringVar(&taskDLQ, "task-dlq", "", "with --sigv4: the task DLQ's queue name (the stack's TaskDlqName output), for the overview's DLQ depth")
	return c
}
