// Command hourglass is Hourglass's command line: it creates, shows, lists,
// cancels and reschedules tasks, manages recurring schedules (and previews
// their fire times), and lists and re-runs the dead letters, through a
// Hourglass HTTP API (pkg/client).
//
//	go install github.com/hourglass-sched/hourglass/cmd/hourglass@latest
//	hourglass tasks list -o json
//	hourglass schedules preview 'cron(0 9 ? * MON-FRI *)' --timezone Europe/Paris
//
// It reads its own environment variables (it is a client, not product
// code, so pkg/config does not read them for it): HOURGLASS_API (default
// http://127.0.0.1:8080, make dev's address) and HOURGLASS_TOKEN (a bearer
// token; "dev-<tenant>" against make dev). --api and --token override
// them; --sigv4 signs with the default AWS credential chain instead, for
// deployments with IAM authorization (--region, else the chain's region).
//
// Output is a table for people, or -o json for scripts. Exit codes: 0 done,
// 1 the API refused or failed (or could not be reached), 2 bad usage, 3 not
// found. The web console of issue 16 is not part of this command yet.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	"github.com/hourglass-sched/hourglass/pkg/client"
)

// Exit codes.
const (
	exitOK       = 0
	exitFailed   = 1 // the API refused or failed, or could not be reached
	exitUsage    = 2 // bad usage: unknown command or flag, bad argument
	exitNotFound = 3 // the task or schedule does not exist (or is another tenant's)
)

// defaultAPI is make dev's address.
const defaultAPI = "http://127.0.0.1:8080"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv, isTerminal(os.Stderr))
	stop()
	os.Exit(code)
}

// isTerminal reports whether f is a terminal (a character device), where
// a progress bar may redraw itself.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// app is one invocation: its streams, environment and global flags.
type app struct {
	ctx       context.Context
	stdout    io.Writer
	stderr    io.Writer
	getenv    func(string) string
	stderrTTY bool

	api, token, region, output string
	sigv4                      bool

	client *client.Client
}

// usageError is bad usage: exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// exitError carries an exit code for an error already reported (or to be
// reported as is).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// run is the whole command, testable in-process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string, stderrTTY bool) int {
	a := &app{ctx: ctx, stdout: stdout, stderr: stderr, getenv: getenv, stderrTTY: stderrTTY}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		a.report(ee.err)
		return ee.code
	}
	// Everything else comes from parsing the command line.
	_, _ = fmt.Fprintf(stderr, "hourglass: %v\nRun '%s --help' for usage.\n", err, cmd.CommandPath())
	return exitUsage
}

// report prints an error, with the API's problem detail and the fields it
// names.
func (a *app) report(err error) {
	var pe *client.Error
	if !errors.As(err, &pe) {
		_, _ = fmt.Fprintf(a.stderr, "hourglass: %v\n", err)
		return
	}
	_, _ = fmt.Fprintf(a.stderr, "hourglass: %s (HTTP %d)", pe.Title, pe.Status)
	if pe.Detail != "" {
		_, _ = fmt.Fprintf(a.stderr, ": %s", pe.Detail)
	}
	_, _ = fmt.Fprintln(a.stderr)
	// One bad field is the detail already; several are listed.
	if len(pe.Errors) > 1 || (len(pe.Errors) == 1 && pe.Detail != pe.Errors[0].Field+": "+pe.Errors[0].Reason) {
		for _, f := range pe.Errors {
			_, _ = fmt.Fprintf(a.stderr, "  %s: %s\n", f.Field, f.Reason)
		}
	}
}

// apiFailure wraps an error from the client with its exit code: 3 for a
// 404, 1 for anything else.
func apiFailure(err error) error {
	var pe *client.Error
	if errors.As(err, &pe) && pe.Status == 404 {
		return &exitError{code: exitNotFound, err: err}
	}
	return &exitError{code: exitFailed, err: err}
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "hourglass",
		Short: "Schedule tasks and recurring schedules on a Hourglass API",
		Long: `hourglass talks to a Hourglass HTTP API: tasks (one-off webhook, SQS,
EventBridge or Lambda calls at a given time), recurring schedules (cron, rate
and at expressions in any time zone) and the dead letters (FAILED tasks).

The API is HOURGLASS_API (default ` + defaultAPI + `, make dev's address);
the bearer token HOURGLASS_TOKEN ("dev-<tenant>" against make dev). For a
deployment with IAM authorization, --sigv4 signs each request with the
default AWS credential chain. Flags override the environment.

Exit codes: 0 done, 1 the API refused or failed, 2 bad usage, 3 not found.`,
		Example: `  export HOURGLASS_TOKEN=dev-acme
  hourglass tasks create --due +30s --webhook http://127.0.0.1:9000/hook
  hourglass tasks list -o json
  hourglass schedules preview 'cron(0 9 ? * MON-FRI *)' --timezone Europe/Paris
  hourglass --api https://abc123.execute-api.eu-west-1.amazonaws.com --sigv4 dlq list`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			switch a.output {
			case "table", "json":
				return nil
			}
			return usagef("-o/--output must be table or json, not %q", a.output)
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	pf := root.PersistentFlags()
	pf.StringVar(&a.api, "api", "", "the API's base URL (default $HOURGLASS_API, else "+defaultAPI+")")
	pf.StringVar(&a.token, "token", "", `bearer token (default $HOURGLASS_TOKEN; "dev-<tenant>" against make dev)`)
	pf.BoolVar(&a.sigv4, "sigv4", false, "sign requests with SigV4 (service execute-api) and the default AWS credential chain")
	pf.StringVar(&a.region, "region", "", "AWS region for --sigv4 (default: the credential chain's, e.g. $AWS_REGION)")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table or json")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err.Error()} })

	root.AddCommand(a.tasksCmd(), a.schedulesCmd(), a.dlqCmd(), a.accessKeysCmd(), a.limitsCmd(), a.consoleCmd(), a.completionCmd(root))
	root.InitDefaultHelpCmd()
	for _, c := range root.Commands() {
		if c.Name() == "help" {
			c.Example = "  hourglass help tasks create"
		}
	}
	return root
}

// group is a command that only holds subcommands: run bare, it prints its
// help and exits 2.
func (a *app) group(use, short, example string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:     use,
		Short:   short,
		Example: example,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(a.stderr)
			_ = cmd.Help()
			return usagef("%s needs a subcommand", cmd.CommandPath())
		},
	}
	c.AddCommand(subs...)
	return c
}

// Argument checks that report bad usage (exit 2).
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return nil
}

func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("expects %s, got %d argument(s)", what, len(args))
		}
		return nil
	}
}

func minArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) < n {
			return usagef("expects %s", what)
		}
		return nil
	}
}

// conn returns the client, built on first use from the flags and the
// environment.
func (a *app) conn() (*client.Client, error) {
	if a.client != nil {
		return a.client, nil
	}
	base := a.api
	if base == "" {
		base = a.getenv("HOURGLASS_API")
	}
	if base == "" {
		base = defaultAPI
	}
	opts := client.Options{}
	token := a.token
	if token == "" && !a.sigv4 {
		token = a.getenv("HOURGLASS_TOKEN")
	}
	switch {
	case a.sigv4 && a.token != "":
		return nil, usagef("--sigv4 and --token exclude each other")
	case a.sigv4:
		var lo []func(*awsconfig.LoadOptions) error
		if a.region != "" {
			lo = append(lo, awsconfig.WithRegion(a.region))
		}
		cfg, err := awsconfig.LoadDefaultConfig(a.ctx, lo...)
		if err != nil {
			return nil, &exitError{code: exitFailed, err: fmt.Errorf("load AWS credentials: %w", err)}
		}
		if cfg.Region == "" {
			return nil, usagef("--sigv4 needs a region: --region or AWS_REGION")
		}
		opts.Credentials, opts.Region = aws.NewCredentialsCache(cfg.Credentials), cfg.Region
	default:
		opts.Token = strings.TrimPrefix(token, "Bearer ")
	}
	c, err := client.New(base, opts)
	if err != nil {
		return nil, usagef("%v", err)
	}
	a.client = c
	return c, nil
}

func (a *app) completionCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script",
		Long: `Print the completion script for bash, zsh or fish on stdout.

bash: source it from ~/.bashrc, or save it under
/etc/bash_completion.d/ (needs the bash-completion package).
zsh: save it as _hourglass in a directory on $fpath.
fish: save it as ~/.config/fish/completions/hourglass.fish.`,
		Example: `  source <(hourglass completion bash)
  hourglass completion zsh > "${fpath[1]}/_hourglass"
  hourglass completion fish > ~/.config/fish/completions/hourglass.fish`,
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args:      exactArgs(1, "one shell: bash, zsh or fish"),
		RunE: func(_ *cobra.Command, args []string) error {
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(a.stdout, true)
			case "zsh":
				return root.GenZshCompletion(a.stdout)
			case "fish":
				return root.GenFishCompletion(a.stdout, true)
			}
			return usagef("unknown shell %q: bash, zsh or fish", args[0])
		},
	}
}
