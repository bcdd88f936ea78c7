package wire_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEnvironmentReadOnlyInConfig holds the rule that product code (the
// functions and the product packages) reads environment variables only in
// pkg/config: a setting read anywhere else has no default, no validation
// and no place in the documented list. Test kits and tests may read their
// own; the CLI (cmd/hourglass) reads its flags' fallbacks itself.
func TestEnvironmentReadOnlyInConfig(t *testing.T) {
	readers := map[string]bool{"Getenv": true, "LookupEnv": true, "Environ": true}
	var found []string
	for _, root := range []string{"../../functions", "../../pkg"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			slash := filepath.ToSlash(path)
			if d.IsDir() && (strings.HasSuffix(slash, "pkg/testkit") || strings.HasSuffix(slash, "pkg/config") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				return err
			}
			os := ""
			for _, imp := range f.Imports {
				if imp.Path.Value == `"os"` {
					os = "os"
					if imp.Name != nil {
						os = imp.Name.Name
					}
				}
			}
			if os == "" {
				return nil
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if id, ok := sel.X.(*ast.Ident); ok && id.Name == os && readers[sel.Sel.Name] {
						found = append(found, slash+": os."+sel.Sel.Name)
					}
				}
				return true
			})
			return nil
		})
		require.NoError(t, err)
	}
	require.Empty(t, found, "environment variables are read in pkg/config only")
}
