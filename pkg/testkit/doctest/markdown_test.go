package doctest_test

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// maxReadmeLines is the front door's budget (issue 13): what it is, the two
// commands, try it, the picture, the parts, deploy, links. The rest is in docs/.
const maxReadmeLines = 200

// block is one fenced code block of a Markdown file.
type block struct {
	file string // path relative to the repository root
	line int    // 1-based line of the opening fence
	lang string // what follows the opening ```
	text string // the lines between the fences
	skip string // the reason of a "docs-test: skip" comment before it; "" when none
}

func (b block) String() string { return b.file + ":" + strconv.Itoa(b.line) }

var skipComment = regexp.MustCompile(`^<!-- docs-test: skip \((.+)\) -->$`)

// repoRoot is the repository's root: the tests run in pkg/testkit/doctest.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "go.mod"))
	require.NoError(t, err, "the repository root is two levels up")
	return root
}

// manual lists the Markdown files whose shell blocks run: README.md and
// docs/*.md, relative to root.
func manual(t *testing.T, root string) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	require.NoError(t, err)
	require.NotEmpty(t, docs, "docs/*.md")
	files := []string{"README.md"}
	for _, d := range docs {
		rel, err := filepath.Rel(root, d)
		require.NoError(t, err)
		files = append(files, filepath.ToSlash(rel))
	}
	sort.Strings(files[1:])
	return files
}

// parse splits a Markdown file into its fenced blocks and its prose (the
// lines outside fences, for links and headings).
func parse(t *testing.T, root, file string) (blocks []block, prose []string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, file))
	require.NoError(t, err)
	lines := strings.Split(string(raw), "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if !strings.HasPrefix(l, "```") {
			prose = append(prose, l)
			continue
		}
		b := block{file: file, line: i + 1, lang: strings.TrimSpace(strings.TrimPrefix(l, "```"))}
		for p := len(prose) - 1; p >= 0; p-- {
			if strings.TrimSpace(prose[p]) == "" {
				continue
			}
			if m := skipComment.FindStringSubmatch(strings.TrimSpace(prose[p])); m != nil {
				b.skip = m[1]
			}
			break
		}
		var body []string
		for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			body = append(body, lines[i])
		}
		require.Less(t, i, len(lines), "%s: the block is never closed", b)
		b.text = strings.Join(body, "\n") + "\n"
		blocks = append(blocks, b)
	}
	return blocks, prose
}

var (
	link       = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)\)`)
	inlineCode = regexp.MustCompile("`[^`]*`")
	heading    = regexp.MustCompile(`^#{1,6}\s+(.*)$`)
	notSlug    = regexp.MustCompile(`[^\p{L}\p{N} _-]`)
)

// slug is GitHub's anchor for a heading: lower case, punctuation dropped,
// spaces as hyphens.
func slug(h string) string {
	h = strings.ReplaceAll(h, "`", "")
	return strings.ReplaceAll(notSlug.ReplaceAllString(strings.ToLower(strings.TrimSpace(h)), ""), " ", "-")
}

// TestLinksResolve checks every relative link of the README, the manual and
// the CDK app's README: the file or folder exists, and an anchor names a
// heading of the file it points into. It also checks that the README links
// every page of docs/ and keeps within its budget.
func TestLinksResolve(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	files := append(manual(t, root), "infra/README.md")
	anchors := map[string]map[string]bool{}
	anchorsOf := func(file string) map[string]bool {
		if a, ok := anchors[file]; ok {
			return a
		}
		_, prose := parse(t, root, file)
		a := map[string]bool{}
		for _, l := range prose {
			if m := heading.FindStringSubmatch(l); m != nil {
				a[slug(m[1])] = true
			}
		}
		anchors[file] = a
		return a
	}
	linked := map[string]bool{}
	for _, file := range files {
		_, prose := parse(t, root, file)
		for n, l := range prose {
			for _, m := range link.FindAllStringSubmatch(inlineCode.ReplaceAllString(l, ""), -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				path, anchor, _ := strings.Cut(target, "#")
				resolved := file
				if path != "" {
					resolved = filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(file), path)))
					if _, err := os.Stat(filepath.Join(root, resolved)); err != nil {
						t.Errorf("%s (prose line %d): link %q: %s does not exist", file, n+1, target, resolved)
						continue
					}
				}
				linked[resolved] = true
				if anchor != "" && strings.HasSuffix(resolved, ".md") && !anchorsOf(resolved)[anchor] {
					t.Errorf("%s (prose line %d): link %q: %s has no heading with anchor #%s", file, n+1, target, resolved, anchor)
				}
			}
		}
	}
	for _, file := range manual(t, root)[1:] {
		assert.True(t, linked[file], "%s is linked from nowhere", file)
	}

	raw, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	assert.LessOrEqual(t, strings.Count(string(raw), "\n"), maxReadmeLines, "README.md lines: move detail into docs/")
}

var (
	// GNU date's -d has no BSD spelling; BSD's -v has no GNU one.
	gnuDate = regexp.MustCompile(`\bdate\b[^|;]*\s-d\s`)
	bsdDate = regexp.MustCompile(`\bdate\b[^|;]*\s-v`)
	// "<id>" outside quotes is a redirection to bash.
	placeholder = regexp.MustCompile(`<[A-Za-z][A-Za-z_-]*>`)
	curlCall    = regexp.MustCompile(`(^|[\s(|])curl\s`)
)

// code is a shell line without its trailing comment (a rough cut: a " #"
// outside quotes starts one).
func code(l string) string {
	if strings.HasPrefix(strings.TrimSpace(l), "#") {
		return ""
	}
	if i := strings.Index(l, " #"); i >= 0 && strings.Count(l[:i], "'")%2 == 0 && strings.Count(l[:i], `"`)%2 == 0 {
		return l[:i]
	}
	return l
}

// TestShellBlocksArePortable checks what a reader on Linux or macOS would
// trip over, in every sh block (skipped ones too): GNU-only date without
// the BSD spelling beside it, <placeholders> that bash reads as
// redirections, curl calls that would hide their status, and skip comments
// without a reason.
func TestShellBlocksArePortable(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	for _, file := range manual(t, root) {
		blocks, prose := parse(t, root, file)
		for _, l := range prose {
			if l = strings.TrimSpace(l); strings.HasPrefix(l, "<!--") && strings.Contains(l, "docs-test") {
				assert.Regexp(t, skipComment, l, "%s: a docs-test comment is <!-- docs-test: skip (reason) -->", file)
			}
		}
		for _, b := range blocks {
			if b.lang != "sh" {
				continue
			}
			// A curl call may span lines joined by backslashes.
			joined := strings.ReplaceAll(b.text, "\\\n", " ")
			for _, l := range strings.Split(joined, "\n") {
				c := code(l)
				if gnuDate.MatchString(c) && !bsdDate.MatchString(c) {
					t.Errorf("%s: GNU-only `date -d` without the BSD `date -v` beside it: %s", b, l)
				}
				if placeholder.MatchString(c) {
					t.Errorf("%s: a <placeholder> is a redirection when pasted; capture the value into a variable: %s", b, l)
				}
				if curlCall.MatchString(c) && !strings.Contains(c, "-w ") && !strings.Contains(c, "-f") {
					t.Errorf("%s: curl neither prints its status (-w '→ %%{http_code}\\n') nor fails on an error (-f): %s", b, l)
				}
			}
		}
	}
}
