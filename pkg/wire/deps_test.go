package wire_test

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/hourglass-sched/hourglass/"

// ownDeps returns the Hourglass packages pkg depends on (its non-test
// imports, transitively), as paths relative to the module.
func ownDeps(t *testing.T, pkg string) []string {
	t.Helper()
	seen := map[string]bool{}
	var walk func(path string)
	walk = func(path string) {
		p, err := build.Default.Import(path, "", 0)
		require.NoError(t, err, path)
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module) && !seen[imp] {
				seen[imp] = true
				walk(imp)
			}
		}
	}
	walk(module + pkg)
	var out []string
	for p := range seen {
		out = append(out, strings.TrimPrefix(p, module))
	}
	sort.Strings(out)
	return out
}

// TestAdaptersImportOnlyTheDomain holds the layering rule: the adapters
// (DynamoDB store, SQS queue) and the domain packages depend on nothing of
// ours above the domain — no door, service, engine or this wiring.
func TestAdaptersImportOnlyTheDomain(t *testing.T) {
	t.Parallel()
	domain := []string{"pkg/task", "pkg/schedule", "pkg/cronexpr", "pkg/clock"}
	for _, pkg := range []string{"pkg/ddbstore", "pkg/sqsq", "pkg/task", "pkg/schedule", "pkg/cronexpr"} {
		deps := ownDeps(t, pkg)
		for _, d := range deps {
			assert.Truef(t, slices.Contains(domain, d), "%s depends on %s, which is not a domain package (all: %v)", pkg, d, deps)
		}
	}
	assert.Equal(t, []string{"pkg/cronexpr", "pkg/schedule", "pkg/task"}, ownDeps(t, "pkg/ddbstore"))
}

// TestServicesHaveNoTransport holds that the application services import no
// door or transport: net/http stays in the doors.
func TestServicesHaveNoTransport(t *testing.T) {
	t.Parallel()
	p, err := build.Default.Import(module+"pkg/app", "", 0)
	require.NoError(t, err)
	assert.NotContains(t, p.Imports, "net/http")
	for _, d := range ownDeps(t, "pkg/app") {
		assert.Contains(t, []string{"pkg/task", "pkg/schedule", "pkg/cronexpr", "pkg/clock"}, d, "pkg/app depends on %s", d)
	}
}

// TestNoPackageNamesOneLetterApart holds issue 13's naming rule: no two of
// our packages' names differ by one added letter (schedule and schedules
// once held the entity and its engine and door), so an import never means
// the other package by a typo.
func TestNoPackageNamesOneLetterApart(t *testing.T) {
	t.Parallel()
	var names []string
	require.NoError(t, filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if n := d.Name(); n == "testdata" || n == "node_modules" || strings.HasPrefix(n, ".") && path != "../.." {
			return filepath.SkipDir
		}
		if files, _ := filepath.Glob(filepath.Join(path, "*.go")); len(files) > 0 {
			names = append(names, d.Name())
		}
		return nil
	}))
	oneMore := func(long, short string) bool {
		for i := range long {
			if long[:i]+long[i+1:] == short {
				return true
			}
		}
		return false
	}
	for _, a := range names {
		for _, b := range names {
			if len(a) == len(b)+1 && oneMore(a, b) {
				t.Errorf("packages %q and %q differ by one letter", a, b)
			}
		}
	}
}
