package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFunctionMemory(t *testing.T) {
	// GIVEN the stack with default settings
	s := defaultStack(t)

	// WHEN each Hourglass function's memory size is read
	got := map[string]float64{}
	for id, fn := range s.resources("AWS::Lambda::Function") {
		for name := range functionMemoryMB {
			if strings.HasPrefix(id, exportName(name)+"Function") {
				got[name] = fn["Properties"].(map[string]any)["MemorySize"].(float64)
			}
		}
	}

	// THEN the worker and the other background functions have 128 MB
	// (Lambda's least), the API 256 MB
	require.Equal(t, map[string]float64{"api": 256, "ingest": 128, "scanner": 128, "dispatcher": 128, "worker": 128}, got)
}

// TestFunctionMemoryMatchesDevHost: the local host counts GB-seconds with
// the memory sizes the stack deploys (pkg/devhost's MemoryMB literal).
func TestFunctionMemoryMatchesDevHost(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "pkg", "devhost", "devhost.go"), nil, 0)
	require.NoError(t, err)
	dev := map[string]float64{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "MemoryMB" || len(vs.Values) != 1 {
			return true
		}
		lit, ok := vs.Values[0].(*ast.CompositeLit)
		require.True(t, ok, "devhost.MemoryMB is a map literal")
		for _, e := range lit.Elts {
			kv := e.(*ast.KeyValueExpr)
			k, err := strconv.Unquote(kv.Key.(*ast.BasicLit).Value)
			require.NoError(t, err)
			v, err := strconv.ParseFloat(kv.Value.(*ast.BasicLit).Value, 64)
			require.NoError(t, err)
			dev[k] = v
		}
		return false
	})
	require.Equal(t, functionMemoryMB, dev, "pkg/devhost MemoryMB must match infra functionMemoryMB")
}
