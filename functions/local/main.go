// Command local runs every Hourglass function in one process against an AWS
// emulator: `make dev` starts the emulator and then this. The API listens on
// HOURGLASS_ADDR (default 127.0.0.1:8080).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/devhost"
)

func main() {
	devhost.ApplyDevDefaults()
	config.SetDefaults(map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"})
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintln(os.Stderr, "hourglass: configuration:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := devhost.Options{Addr: cfg.Addr}
	if cfg.ClockSkew != 0 { // chaos runs only
		opts.Clock = clock.Skewed{Base: clock.System{}, Offset: cfg.ClockSkew}
	}
	if err := devhost.Run(ctx, cfg, opts); err != nil {
		fmt.Fprintln(os.Stderr, "hourglass:", err)
		os.Exit(1)
	}
}
