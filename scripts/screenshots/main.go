// Command screenshots writes a PNG of each console page (`make
// screenshots`): it starts the emulator on -port (unless one answers
// there), runs a dev host with a fresh resource prefix, seeds it with
// tasks (some succeed, some fail into the DLQ, some wait) and schedules
// through the API, and photographs each page in headless Chromium into
// -out (docs/img by default).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hourglass-sched/hourglass/pkg/client"
	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/devhost"
	"github.com/hourglass-sched/hourglass/pkg/testkit/browser"
)

func main() {
	port := flag.Int("port", 4595, "emulator port (started here unless one answers)")
	out := flag.String("out", "docs/img", "directory for the PNG files")
	width := flag.Int("width", 1280, "browser window width")
	height := flag.Int("height", 900, "browser window height")
	flag.Parse()
	if err := run(*port, *out, *width, *height); err != nil {
		fmt.Fprintln(os.Stderr, "screenshots:", err)
		os.Exit(1)
	}
}

func run(port int, out string, width, height int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := strconv.Itoa(port)
	if exec.Command("scripts/emulator.sh", "status", p).Run() != nil { //nolint:gosec // fixed script, integer port
		if b, err := exec.Command("scripts/emulator.sh", "start", p).CombinedOutput(); err != nil { //nolint:gosec // as above
			return fmt.Errorf("start the emulator: %w: %s", err, b)
		}
		defer func() { _ = exec.Command("scripts/emulator.sh", "stop", p).Run() }() //nolint:gosec // as above
	}
	_ = os.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:"+p)
	_ = os.Unsetenv("AWS_ENDPOINT_URL_DYNAMODB")
	devhost.ApplyDevDefaults()
	_ = os.Setenv("HOURGLASS_LOG_LEVEL", "error")
	_ = os.Setenv("HOURGLASS_SIGNING_KEY", "screenshots-signing-key")
	cfg, err := config.Load()
	if err != nil {
		return err
	}

	// A webhook receiver: /ok answers 204, /fail 500.
	sinkLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	sink := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/fail") {
			http.Error(w, "the receiver is down for maintenance", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = sink.Serve(sinkLn) }()
	defer func() { _ = sink.Close() }()
	sinkURL := "http://" + sinkLn.Addr().String()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- devhost.Run(ctx, cfg, devhost.Options{Prefix: fmt.Sprintf("shots%d", time.Now().Unix()), Listener: ln, PollWait: 2 * time.Second,
			Ready: func(b string) { ready <- b }})
	}()
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		return fmt.Errorf("dev host: %w", err)
	case <-time.After(90 * time.Second):
		return errors.New("dev host not ready after 90 s")
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "screenshots: dev host:", err)
		}
	}()

	api, err := client.New(base, client.Options{DevTenant: "acme"})
	if err != nil {
		return err
	}
	failing, err := seed(ctx, api, sinkURL)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	return shoot(ctx, base, out, width, height, failing)
}

// seed creates what the pages show and waits for the short tasks to end.
// It returns a task that failed (for the task page's timeline).
func seed(ctx context.Context, api *client.Client, sink string) (string, error) {
	now := time.Now()
	var wait []string
	var failing string
	for i := range 12 {
		t, _, err := api.Create(ctx, client.CreateTask{DueAt: now.Add(time.Duration(3+i/2) * time.Second), Target: client.Webhook(sink + "/ok"),
			Payload: map[string]any{"order": 1000 + i}, Labels: map[string]string{"team": "billing"}}, client.RandomKey())
		if err != nil {
			return "", fmt.Errorf("seed: %w", err)
		}
		wait = append(wait, t.ID)
	}
	for i := range 2 {
		t, _, err := api.Create(ctx, client.CreateTask{DueAt: now.Add(4 * time.Second), Target: client.Webhook(sink + "/fail"),
			Retry: &client.Retry{MaxAttempts: 3, InitialBackoffMs: 1000, MaxBackoffMs: 2000}, Labels: map[string]string{"team": "search"}}, client.RandomKey())
		if err != nil {
			return "", fmt.Errorf("seed: %w", err)
		}
		wait = append(wait, t.ID)
		if i == 0 {
			failing = t.ID
		}
	}
	for i := range 3 {
		if _, _, err := api.Create(ctx, client.CreateTask{DueAt: now.Add(time.Duration(i+1) * time.Hour), Target: client.Webhook(sink + "/ok"),
			Labels: map[string]string{"team": "billing", "kind": "reminder"}}, client.RandomKey()); err != nil {
			return "", fmt.Errorf("seed: %w", err)
		}
	}
	if _, err := api.CreateSchedule(ctx, client.CreateSchedule{Expression: "cron(0 9 ? * MON-FRI *)", Timezone: "Europe/Paris", Target: client.Webhook(sink + "/ok"),
		Labels: map[string]string{"team": "billing"}}); err != nil {
		return "", fmt.Errorf("seed schedule: %w", err)
	}
	if _, err := api.CreateSchedule(ctx, client.CreateSchedule{Expression: "rate(1 minute)", Timezone: "America/New_York", Target: client.Webhook(sink + "/ok")}); err != nil {
		return "", fmt.Errorf("seed schedule: %w", err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for _, id := range wait {
		for {
			t, err := api.Get(ctx, id)
			if err != nil {
				return "", err
			}
			if t.State == "SUCCEEDED" || t.State == "FAILED" {
				break
			}
			if time.Now().After(deadline) {
				return "", fmt.Errorf("task %s still %s after 90 s", id, t.State)
			}
			time.Sleep(250 * time.Millisecond) // polling the API with a deadline
		}
	}
	return failing, nil
}

func shoot(ctx context.Context, base, out string, width, height int, failing string) error {
	bctx, stop, err := browser.Start(ctx, width, height)
	if err != nil {
		return err
	}
	defer stop()
	path, _ := browser.Find()
	fmt.Fprintf(os.Stderr, "screenshots: %s", browser.Version(path))
	if err := chromedp.Do(bctx,
		chromedp.Navigate(base+devhost.ConsolePrefix+"/signin"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), "dev-acme"),
		chromedp.Click(chromedp.CSS(`main button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#figures")),
	); err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	sched, err := firstScheduleLink(bctx, base)
	if err != nil {
		return err
	}
	pages := []struct{ name, path, wait string }{
		{"overview", "/", ".uplot"},
		{"tasks", "/tasks", "#task-list"},
		{"task", "/tasks/" + failing, "#attempts"},
		{"schedules", "/schedules", "#schedule-list"},
		{"schedule", sched, "#next-fires"},
		{"dlq", "/dlq", "#dlq-list"},
	}
	for _, p := range pages {
		var png []byte
		sctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		err := chromedp.Do(sctx, chromedp.Navigate(base+devhost.ConsolePrefix+p.path), chromedp.WaitVisible(chromedp.CSS(p.wait)))
		if err == nil {
			png, err = chromedp.Run(sctx, chromedp.FullScreenshot(100))
		}
		cancel()
		if err != nil {
			return fmt.Errorf("%s page: %w", p.name, err)
		}
		file := filepath.Join(out, "console-"+p.name+".png")
		if err := os.WriteFile(file, png, 0o644); err != nil { //nolint:gosec // documentation images
			return err
		}
		fmt.Println(file)
	}
	return nil
}

// firstScheduleLink returns the console path of the rate() schedule (it
// has runs to show).
func firstScheduleLink(bctx context.Context, base string) (string, error) {
	if err := chromedp.Do(bctx, chromedp.Navigate(base+devhost.ConsolePrefix+"/schedules"), chromedp.WaitVisible(chromedp.CSS("#schedule-list"))); err != nil {
		return "", err
	}
	href, err := chromedp.Run(bctx, chromedp.Evaluate[string](`(function () {
	  for (const tr of document.querySelectorAll("#schedule-list tbody tr")) {
	    if (tr.textContent.includes("rate(")) { return tr.querySelector("a").getAttribute("href"); }
	  }
	  return "";
	})()`))
	if err != nil {
		return "", fmt.Errorf("find the rate() schedule: %w", err)
	}
	if href == "" {
		return "", errors.New("find the rate() schedule: not listed")
	}
	return strings.TrimPrefix(href, devhost.ConsolePrefix), nil
}
