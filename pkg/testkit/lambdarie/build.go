package lambdarie

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// builds caches BuildBootstrap's results for the life of the test process.
var builds sync.Map // key string → *build

type build struct {
	once sync.Once
	path string
	err  error
}

// BuildBootstrap compiles the main package pkgPath (an import path, or a
// path relative to the test's package directory such as "./testdata/echo")
// into a file named bootstrap and returns its path, as the provided.al2023
// runtime expects: CGO_ENABLED=0, -tags lambda.norpc, for the host's
// GOOS/GOARCH because the emulator runs it as a host process. A failed build
// fails the test.
//
// Each package is built once per test process; concurrent callers wait for
// the one build. The binary lives in the user cache directory
// (hourglass/lambdarie/), one directory per package, replaced by each build,
// so repeated runs don't pile up binaries in the temporary directory.
func BuildBootstrap(tb testing.TB, pkgPath string) string {
	tb.Helper()
	// The working directory is part of the key: it decides which checkout
	// an import path or a relative path resolves in.
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatalf("lambdarie: working directory: %v", err)
	}
	key := wd + "|" + pkgPath + "|" + runtime.GOOS + "/" + runtime.GOARCH
	v, _ := builds.LoadOrStore(key, &build{})
	b := v.(*build)
	b.once.Do(func() { b.path, b.err = goBuild(pkgPath, key) })
	if b.err != nil {
		tb.Fatalf("lambdarie: build bootstrap %s: %v", pkgPath, b.err)
	}
	return b.path
}

// goBuild builds pkgPath into <cache>/<hash of key>/bootstrap, building in a
// temporary directory and renaming the result, so that a concurrent test
// process (go test runs packages in parallel) never executes a half-written
// binary.
func goBuild(pkgPath, key string) (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	sum := sha256.Sum256([]byte(key))
	dir := filepath.Join(base, "hourglass", "lambdarie", hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create output directory: %w", err)
	}
	tmpDir, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", fmt.Errorf("create build directory: %w", err)
	}
	defer os.RemoveAll(tmpDir)
	tmpName := filepath.Join(tmpDir, "bootstrap")

	// "go" on PATH is the toolchain running the tests: go test puts its
	// GOROOT/bin first on the test binary's PATH.
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", tmpName, pkgPath)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	out := filepath.Join(dir, "bootstrap")
	if err := os.Rename(tmpName, out); err != nil {
		return "", fmt.Errorf("install bootstrap: %w", err)
	}
	return out, nil
}
