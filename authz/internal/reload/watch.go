package reload

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/fsnotify/fsnotify"
)

// watchSet keeps an fsnotify watcher on the directories that matter and
// says which events in them do. A directory is watched whole (the policy
// directory, where any new file may be a policy) or for some names only
// (the directory holding a symlink or a secret file, which may hold much
// else).
type watchSet struct {
	w       *fsnotify.Watcher
	dirs    map[string]*watched
	onError func(error)
}

type watched struct {
	all   bool
	names map[string]bool
}

func newWatchSet(w *fsnotify.Watcher, onError func(error)) *watchSet {
	if onError == nil {
		onError = func(error) {}
	}
	return &watchSet{w: w, dirs: map[string]*watched{}, onError: onError}
}

// update re-resolves dir and files and moves the watches to match. grew
// reports whether a path is watched now that was not before: a change to it
// made before this call went unseen.
func (s *watchSet) update(dir string, files []string) (grew bool) {
	want := map[string]*watched{}
	add := func(d, name string) {
		wd := want[d]
		if wd == nil {
			wd = &watched{names: map[string]bool{}}
			want[d] = wd
		}
		if name == "" {
			wd.all = true
		} else {
			wd.names[name] = true
		}
	}
	plan := func(path string, whole bool) {
		abs, err := filepath.Abs(path)
		if err != nil {
			return
		}
		hops, final, missing := resolve(abs)
		for _, h := range hops {
			add(h.dir, h.name)
		}
		if missing != "" {
			// Not there (yet): watch the deepest directory that is, for
			// the name that would come next.
			add(final, missing)
			return
		}
		add(filepath.Dir(final), filepath.Base(final))
		if whole {
			add(final, "")
		}
	}
	plan(dir, true)
	for _, f := range files {
		plan(f, false)
	}

	for d := range s.dirs {
		if want[d] == nil {
			// The directory may be gone already, which removed its watch.
			_ = s.w.Remove(d)
		}
	}
	for d, wd := range want {
		old := s.dirs[d]
		if old == nil {
			if err := s.w.Add(d); err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					s.onError(fmt.Errorf("watch %s: %w", d, err))
				}
				delete(want, d)
				continue
			}
			grew = true
			continue
		}
		if wd.all && !old.all {
			grew = true
		}
		for name := range wd.names {
			if !old.all && !old.names[name] {
				grew = true
			}
		}
	}
	s.dirs = want
	return grew
}

// relevant reports whether an event on path may change the policy.
func (s *watchSet) relevant(path string) bool {
	if wd := s.dirs[path]; wd != nil {
		return true // the watched directory itself: removed or moved
	}
	wd := s.dirs[filepath.Dir(path)]
	return wd != nil && (wd.all || wd.names[filepath.Base(path)])
}

// hop is a symlink met while resolving a path: name in directory dir. A
// change to it re-points everything below.
type hop struct{ dir, name string }

// maxHops bounds symlink resolution, as the kernel's ELOOP does.
const maxHops = 40

// resolve walks the absolute path one component at a time, following
// symlinks, and returns every symlink it met and the resolved path. When a
// component does not exist, final is the resolved directory above it and
// missing its name.
func resolve(path string) (hops []hop, final, missing string) {
	todo := splitPath(path)
	cur := string(filepath.Separator)
	for n := 0; len(todo) > 0; {
		name := todo[0]
		todo = todo[1:]
		switch name {
		case ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, name)
		info, err := os.Lstat(next)
		if err != nil {
			return hops, cur, name
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if n++; n > maxHops {
			return hops, cur, name
		}
		hops = append(hops, hop{cur, name})
		target, err := os.Readlink(next)
		if err != nil {
			return hops, cur, name
		}
		if filepath.IsAbs(target) {
			cur = string(filepath.Separator)
		}
		todo = append(splitPath(target), todo...)
	}
	return hops, cur, ""
}

// splitPath splits a path into its components.
func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, string(filepath.Separator)) {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}
