package docs

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	testName = regexp.MustCompile(`\b(?:Test|Fuzz)[A-Z][A-Za-z0-9_]*`)
	testFunc = regexp.MustCompile(`(?m)^func ((?:Test|Fuzz)[A-Z][A-Za-z0-9_]*)\(`)
)

// TestThreatModelRowsHaveTests: every row of a threat table in
// threat-model.md names at least one Go test or fuzz target in its test
// column, and every one it names exists, so a row cannot claim a control
// nothing proves, and a renamed test cannot leave a row behind.
func TestThreatModelRowsHaveTests(t *testing.T) {
	defined, err := definedTests("..")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("threat-model.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	inThreats, rows := false, 0
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if !strings.HasPrefix(line, "|") {
			inThreats = false
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		switch {
		case strings.TrimSpace(cells[0]) == "threat":
			inThreats = true
			if len(cells) != 3 || strings.TrimSpace(cells[2]) != "test" {
				t.Errorf("threat-model.md:%d: a threat table has the columns threat, control, test", n)
			}
			continue
		case !inThreats || strings.HasPrefix(strings.TrimSpace(cells[0]), "---"):
			continue
		}
		rows++
		if len(cells) != 3 {
			t.Errorf("threat-model.md:%d: %d cells, want 3 (a | inside a cell?)", n, len(cells))
			continue
		}
		names := testName.FindAllString(cells[2], -1)
		if len(names) == 0 {
			t.Errorf("threat-model.md:%d: the row names no test", n)
		}
		for _, name := range names {
			if !defined[name] {
				t.Errorf("threat-model.md:%d: %s is not a test of this repository", n, name)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if rows < 10 {
		t.Fatalf("only %d threat rows found: is the table format still | threat | control | test |?", rows)
	}
}

// definedTests returns the names of the test and fuzz functions in every
// _test.go file under root, nested modules included.
func definedTests(root string) (map[string]bool, error) {
	out := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range testFunc.FindAllSubmatch(b, -1) {
			out[string(m[1])] = true
		}
		return nil
	})
	return out, err
}
