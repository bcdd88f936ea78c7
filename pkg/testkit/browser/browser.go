// Package browser starts headless Chromium for the console's browser tests
// and screenshots (through chromedp). A missing browser is an error that
// says how to install it, never a skip: the browser tests must fail when
// Chromium is absent (in CI, .ci/run installs it first).
package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/chromedp/chromedp"
)

// names are the executables tried, in order.
var names = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"}

// ErrNoBrowser says that no Chromium executable is on PATH.
var ErrNoBrowser = errors.New("no Chromium on PATH (tried chromium, chromium-browser, google-chrome, headless-shell): install it with `apt-get install -y chromium` (Debian/Ubuntu) or `brew install --cask chromium` (macOS)")

// Find returns the path of the Chromium executable to drive.
func Find() (string, error) {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", ErrNoBrowser
}

// Version returns the browser's --version line.
func Version(path string) string {
	out, err := exec.Command(path, "--version").Output() //nolint:gosec // path comes from Find
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return string(out)
}

// Start launches headless Chromium (width × height window) and returns a
// chromedp context for one tab, and a cancel that closes the browser.
func Start(ctx context.Context, width, height int) (context.Context, context.CancelFunc, error) {
	path, err := Find()
	if err != nil {
		return nil, nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(width, height),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	if os.Geteuid() == 0 {
		// Chromium refuses to run as root with its sandbox on.
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tctx, cancelTab := chromedp.NewContext(actx)
	if err := chromedp.Do(tctx); err != nil {
		cancelTab()
		cancelAlloc()
		return nil, nil, fmt.Errorf("start %s: %w", path, err)
	}
	return tctx, func() { cancelTab(); cancelAlloc() }, nil
}
