package reload

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestResolve(t *testing.T) {
	root, _ := filepath.EvalSymlinks(t.TempDir())
	os.MkdirAll(filepath.Join(root, "real", "..2026", "sub"), 0o755)
	os.Symlink("..2026", filepath.Join(root, "real", "..data"))
	os.Symlink("..data/sub", filepath.Join(root, "real", "sub"))
	os.Symlink(filepath.Join(root, "real"), filepath.Join(root, "link"))

	hops, final, missing := resolve(filepath.Join(root, "link", "sub", "x"))
	want := []hop{{root, "link"}, {filepath.Join(root, "real"), "sub"}, {filepath.Join(root, "real"), "..data"}}
	if !slices.Equal(hops, want) || final != filepath.Join(root, "real", "..2026", "sub") || missing != "x" {
		t.Errorf("resolve = %v, %q, %q", hops, final, missing)
	}

	hops, final, missing = resolve(root + "/real/..data/../real")
	if len(hops) != 1 || missing != "real" || final != filepath.Join(root, "real") {
		t.Errorf("resolve through .. = %v, %q, %q", hops, final, missing)
	}

	os.Symlink("loop", filepath.Join(root, "loop"))
	if _, _, missing := resolve(filepath.Join(root, "loop", "x")); missing != "loop" {
		t.Errorf("a symlink loop resolved: missing %q", missing)
	}
}

func TestWatchSetRelevant(t *testing.T) {
	s := &watchSet{dirs: map[string]*watched{
		"/p":       {all: true},
		"/secrets": {names: map[string]bool{"gh": true, "..data": true}},
	}}
	for path, want := range map[string]bool{
		"/p/a.yaml":       true,
		"/p/.a.yaml.swp":  true,
		"/p":              true,
		"/secrets/gh":     true,
		"/secrets/..data": true,
		"/secrets/other":  false,
		"/elsewhere/gh":   false,
	} {
		if got := s.relevant(path); got != want {
			t.Errorf("relevant(%s) = %v", path, got)
		}
	}
}
