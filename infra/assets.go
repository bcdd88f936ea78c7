package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// checkLambdaAssets reports a clear error when `make build` has not written
// a function's bootstrap binary yet.
func checkLambdaAssets(dir string) error {
	var errs []error
	for _, name := range functionNames {
		f := filepath.Join(dir, name, "bootstrap")
		if _, err := os.Stat(f); err != nil {
			errs = append(errs, fmt.Errorf("lambda asset %s missing (run `make build` at the repo root, or set context lambdaAssetDir): %w", f, err))
		}
	}
	return errors.Join(errs...)
}

// PlaceholderLambdaAssets writes a folder per function with a placeholder
// `bootstrap` under parent (a new temporary folder when parent is ""), for
// synthesizing without the real binaries, as tests and template linting do.
// The caller removes the returned folder.
func PlaceholderLambdaAssets(parent string) (string, error) {
	dir, err := os.MkdirTemp(parent, "hourglass-lambda-")
	if err != nil {
		return "", fmt.Errorf("make placeholder asset dir: %w", err)
	}
	for _, name := range functionNames {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			return "", fmt.Errorf("make placeholder asset dir: %w", err)
		}
		script := []byte("#!/bin/sh\necho 'placeholder: build the real binary with make build' >&2\nexit 1\n")
		if err := os.WriteFile(filepath.Join(dir, name, "bootstrap"), script, 0o755); err != nil {
			return "", fmt.Errorf("write placeholder bootstrap: %w", err)
		}
	}
	return dir, nil
}
