// Package docs holds the project's documentation and no code. Its test
// checks every relative link and #anchor in the repository's Markdown
// files, so a page that moves or a heading that is renamed cannot leave a
// dead link behind.
package docs

import (
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"
)

// TestLinks checks the links of every Markdown file in the repository.
func TestLinks(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the repository root %s has no go.mod: %v", root, err)
	}
	problems, files, err := checkTree(root)
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("no Markdown files found")
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// TestLinksReportBreakage runs the checker on a tree with known mistakes:
// each must be reported, and nothing else.
func TestLinksReportBreakage(t *testing.T) {
	root := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("README.md", "# Top\n\n"+
		"[ok](docs/guide.md) [ok dir](docs/) [ok anchor](docs/guide.md#the-setup--step-1) "+
		"[ok self](#top) [ok web](https://example.com/missing) [ok mail](mailto:a@example.com)\n"+
		"[ok line](main.go#L3) [ok image](docs/img.png \"title\") [ok angle](<docs/guide.md#second-1>)\n"+
		"[missing file](docs/nope.md)\n"+
		"[missing anchor](docs/guide.md#nope)\n"+
		"[missing self anchor](#bottom)\n"+
		"![missing image](docs/missing.png)\n"+
		"[outside](../elsewhere.md)\n"+
		"[anchor on code](main.go#func-main)\n"+
		"[ref]: docs/gone.md\n"+
		"`[in code](docs/nope.md)`\n"+
		"```\n[in a fence](docs/nope.md)\n# not a heading\n```\n"+
		"A link whose [text\nwraps](docs/wrapped.md), [a setext heading](docs/guide.md#set-apart).\n")
	write("docs/guide.md", "# Guide\n\n## The setup — step 1\n\n## Second\n\n## Second\n\n"+
		"[back](../README.md#top) [broken back](../README.md#not-a-heading)\n\nSet apart\n---\n")
	write("docs/img.png", "png")
	write("main.go", "package main\n")

	problems, files, err := checkTree(root)
	if err != nil {
		t.Fatal(err)
	}
	if files != 2 {
		t.Errorf("checked %d files, want 2", files)
	}
	want := []string{
		"README.md:5: docs/nope.md: docs/nope.md does not exist",
		"README.md:6: docs/guide.md#nope: docs/guide.md has no heading or anchor #nope",
		"README.md:7: #bottom: README.md has no heading or anchor #bottom",
		"README.md:8: docs/missing.png: docs/missing.png does not exist",
		"README.md:9: ../elsewhere.md: leads out of the repository",
		"README.md:10: main.go#func-main: only Markdown files have heading anchors (line anchors look like #L12)",
		"README.md:11: docs/gone.md: docs/gone.md does not exist",
		"README.md:17: docs/wrapped.md: docs/wrapped.md does not exist",
		"docs/guide.md:9: ../README.md#not-a-heading: README.md has no heading or anchor #not-a-heading",
	}
	if strings.Join(problems, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(problems, "\n"), strings.Join(want, "\n"))
	}
}

// TestSlug checks heading anchors against ones GitHub generates.
func TestSlug(t *testing.T) {
	cases := []struct{ heading, want string }{
		{"Quick start", "quick-start"},
		{"Stripe — `stripe`", "stripe--stripe"},
		{"Meta (Facebook, Instagram, WhatsApp) — `meta`", "meta-facebook-instagram-whatsapp--meta"},
		{"Validating: `hookguard validate`", "validating-hookguard-validate"},
		{"Stages: who may send, how much, and what", "stages-who-may-send-how-much-and-what"},
		{"HTTP Message Signatures (RFC 9421) — `http_message_signatures`", "http-message-signatures-rfc-9421--http_message_signatures"},
		{"Which revision is live?", "which-revision-is-live"},
		{"See [the guide](guide.md) and **this**", "see-the-guide-and-this"},
		{"Ünïcode stays", "ünïcode-stays"},
		{"Release 1.2.3 (2026-01-01)", "release-123-2026-01-01"},
	}
	for _, c := range cases {
		if got := slug(headingText(c.heading)); got != c.want {
			t.Errorf("slug(%q) = %q, want %q", c.heading, got, c.want)
		}
	}
}

// checkTree checks every Markdown file below root and returns the
// problems, each "file:line: target: what is wrong", sorted by file, and
// how many files it read. Directories whose names start with a dot (.git,
// tool caches) or that are named testdata are skipped.
func checkTree(root string) (problems []string, files int, err error) {
	c := &checker{root: root, anchors: map[string]map[string]bool{}}
	var mdFiles []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".md") {
			mdFiles = append(mdFiles, p)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	sort.Strings(mdFiles)
	for _, f := range mdFiles {
		ps, err := c.checkFile(f)
		if err != nil {
			return nil, 0, err
		}
		problems = append(problems, ps...)
	}
	return problems, len(mdFiles), nil
}

// checker checks the links of Markdown files of one repository, keeping
// the anchors of each file it has read.
type checker struct {
	root    string
	anchors map[string]map[string]bool // absolute path → anchors
}

var (
	// inlineLink matches [text](target) and ![alt](target), the target
	// optionally in angle brackets and followed by a title.
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)`)
	// refDefinition matches a link reference definition, [name]: target.
	refDefinition = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)`)
	// codeSpan matches an inline code span, whose text is not a link.
	codeSpan = regexp.MustCompile("`+[^`]*`+")
	// hasScheme matches a target with a URL scheme: https:, mailto:, ...
	hasScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	// lineAnchor matches GitHub's line anchors in a file view: #L12, #L3-L9.
	lineAnchor = regexp.MustCompile(`^L\d+(-L\d+)?$`)
)

// checkFile returns the problems of the links in one file.
func (c *checker) checkFile(file string) ([]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	rel := c.rel(file)
	lines := proseLines(string(data))
	// Links are found in the whole text, since a link's text may wrap onto
	// the next line; code spans are blanked first, keeping every offset.
	text := codeSpan.ReplaceAllStringFunc(strings.Join(lines, "\n"), func(span string) string {
		return strings.Map(func(r rune) rune {
			if r == '\n' {
				return r
			}
			return ' '
		}, span)
	})
	type link struct {
		line   int
		target string
	}
	var links []link
	for _, m := range inlineLink.FindAllStringSubmatchIndex(text, -1) {
		links = append(links, link{1 + strings.Count(text[:m[0]], "\n"), text[m[2]:m[3]]})
	}
	for i, line := range lines {
		if m := refDefinition.FindStringSubmatch(line); m != nil {
			links = append(links, link{i + 1, m[1]})
		}
	}
	sort.SliceStable(links, func(i, j int) bool { return links[i].line < links[j].line })
	var problems []string
	for _, l := range links {
		target := strings.TrimSuffix(strings.TrimPrefix(l.target, "<"), ">")
		if msg := c.checkTarget(file, target); msg != "" {
			problems = append(problems, fmt.Sprintf("%s:%d: %s: %s", rel, l.line, target, msg))
		}
	}
	return problems, nil
}

// checkTarget says what is wrong with a link from file to target, or ""
// when nothing is. Links with a scheme are not followed.
func (c *checker) checkTarget(file, target string) string {
	if hasScheme.MatchString(target) {
		return ""
	}
	ref, fragment, _ := strings.Cut(target, "#")
	ref, _, _ = strings.Cut(ref, "?")
	ref, err := url.PathUnescape(ref)
	if err != nil {
		return "bad escape in the path"
	}
	dest := file
	if ref != "" {
		if strings.HasPrefix(ref, "/") {
			dest = filepath.Join(c.root, filepath.FromSlash(ref))
		} else {
			dest = filepath.Join(filepath.Dir(file), filepath.FromSlash(ref))
		}
		if r, err := filepath.Rel(c.root, dest); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			return "leads out of the repository"
		}
		info, err := os.Stat(dest)
		if err != nil {
			return c.rel(dest) + " does not exist"
		}
		if info.IsDir() && fragment != "" {
			return "a directory has no anchors"
		}
	}
	if fragment == "" {
		return ""
	}
	if !strings.HasSuffix(dest, ".md") {
		if lineAnchor.MatchString(fragment) {
			return ""
		}
		return "only Markdown files have heading anchors (line anchors look like #L12)"
	}
	anchors, err := c.anchorsOf(dest)
	if err != nil {
		return err.Error()
	}
	if want, err := url.PathUnescape(fragment); err != nil || !anchors[strings.ToLower(want)] {
		return fmt.Sprintf("%s has no heading or anchor #%s", c.rel(dest), fragment)
	}
	return ""
}

// rel names a path relative to the repository root, with slashes.
func (c *checker) rel(p string) string {
	if r, err := filepath.Rel(c.root, p); err == nil {
		return filepath.ToSlash(r)
	}
	return p
}

var (
	// atxHeading matches "# Heading", "## Heading ##" and the like.
	atxHeading = regexp.MustCompile(`^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$`)
	// setextUnderline matches the line under a setext heading.
	setextUnderline = regexp.MustCompile(`^ {0,3}(=+|-+)[ \t]*$`)
	// htmlAnchor matches an explicit anchor: <a name="x"> or id="x".
	htmlAnchor = regexp.MustCompile(`<a\s[^>]*\b(?:name|id)\s*=\s*"([^"]+)"`)
)

// anchorsOf returns the anchors of a Markdown file: the slugs of its
// headings, numbered as GitHub numbers repeated ones, and explicit HTML
// anchors.
func (c *checker) anchorsOf(file string) (map[string]bool, error) {
	if a, ok := c.anchors[file]; ok {
		return a, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	anchors := map[string]bool{}
	seen := map[string]int{}
	add := func(heading string) {
		s := slug(headingText(heading))
		if n := seen[s]; n > 0 {
			anchors[fmt.Sprintf("%s-%d", s, n)] = true
		} else {
			anchors[s] = true
		}
		seen[s]++
	}
	lines := proseLines(string(data))
	for i, line := range lines {
		if m := atxHeading.FindStringSubmatch(line); m != nil {
			add(m[1])
		} else if i > 0 && setextUnderline.MatchString(line) && isParagraphLine(lines[i-1]) {
			add(lines[i-1])
		}
		for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
			anchors[strings.ToLower(m[1])] = true
		}
	}
	c.anchors[file] = anchors
	return anchors, nil
}

// isParagraphLine reports whether a line can be the text of a setext
// heading: not blank, not a heading, list item, quote or table row.
func isParagraphLine(line string) bool {
	s := strings.TrimSpace(line)
	return s != "" && !atxHeading.MatchString(line) && !setextUnderline.MatchString(line) &&
		!strings.HasPrefix(s, "|") && !strings.HasPrefix(s, ">") &&
		!strings.HasPrefix(s, "- ") && !strings.HasPrefix(s, "* ")
}

// proseLines returns the lines of a Markdown text with those of fenced code
// blocks blanked, so line numbers still count from 1 at index 0. A fence
// may be indented, as it is inside a list item.
func proseLines(text string) []string {
	lines := strings.Split(text, "\n")
	var fence string
	for i, line := range lines {
		s := strings.TrimLeft(line, " ")
		switch {
		case fence != "":
			if strings.HasPrefix(s, fence) && strings.Trim(s, fence[:1]+" \t") == "" {
				fence = ""
			}
			lines[i] = ""
		case strings.HasPrefix(s, "```") || strings.HasPrefix(s, "~~~"):
			fence = s[:len(s)-len(strings.TrimLeft(s, s[:1]))]
			lines[i] = ""
		}
	}
	return lines
}

var (
	// linkText keeps the text of a link or image in a heading.
	linkText = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	// htmlTag matches an inline HTML tag, which is not heading text.
	htmlTag = regexp.MustCompile(`<[^>]+>`)
)

// headingText is the text GitHub renders for a heading's Markdown: links
// and images become their text, code spans their content, and emphasis
// markers and HTML tags are dropped.
func headingText(md string) string {
	s := linkText.ReplaceAllString(md, "$1")
	s = htmlTag.ReplaceAllString(s, "")
	s = strings.ReplaceAll(s, "`", "")
	s = strings.ReplaceAll(s, "*", "")
	return strings.TrimSpace(s)
}

// slug is GitHub's anchor for a heading's text: lower case, every
// character but letters, marks, numbers, connector punctuation ('_'), '-'
// and spaces removed, and each space made a '-'.
func slug(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsNumber(r) || unicode.Is(unicode.Pc, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
