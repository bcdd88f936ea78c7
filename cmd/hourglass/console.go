package main

import (
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/hourglass-sched/hourglass/pkg/console"
)

// consoleCmd serves the web console on loopback, talking to the API with
// the CLI's own credentials: no console endpoint is exposed to secure.
func (a *app) consoleCmd() *cobra.Command {
	var addr string
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
			h, err := console.New(console.Options{API: cl.BaseURL(), Authorize: cl.Authorize})
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
	return c
}
