// Package policyfs publishes policy directories the ways they change in
// production, for tests of hot reload: as a Kubernetes ConfigMap or Secret
// volume ([Volume]), as a git-sync checkout ([GitSync]), and as an editor
// saves a file ([WriteRename]).
package policyfs

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Volume is a directory filled the way the kubelet's atomic writer fills a
// ConfigMap or Secret volume: the data lives in a hidden timestamped
// directory, "..data" links to it, and each visible name links through
// "..data". Write swaps every file at once with one rename.
type Volume struct {
	// Dir is the mount point, the directory given to hookguard.
	Dir string
	gen int
}

// NewVolume makes dir a volume holding files (name → content).
func NewVolume(dir string, files map[string]string) (*Volume, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	v := &Volume{Dir: dir}
	return v, v.Write(files)
}

// Write replaces the volume's content with files, as the kubelet does: it
// writes a new timestamped directory, points a new "..data_tmp" link at it,
// renames that over "..data", adds the visible links of new names, removes
// those of names gone, and deletes the old directory.
func (v *Volume) Write(files map[string]string) error {
	v.gen++
	gen := fmt.Sprintf("..2026_01_01_00_00_%02d.%09d", v.gen%60, v.gen)
	genDir := filepath.Join(v.Dir, gen)
	if err := os.Mkdir(genDir, 0o755); err != nil {
		return err
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(genDir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	old, _ := os.Readlink(filepath.Join(v.Dir, "..data"))
	tmp := filepath.Join(v.Dir, "..data_tmp")
	if err := os.Symlink(gen, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(v.Dir, "..data")); err != nil {
		return err
	}
	entries, err := os.ReadDir(v.Dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if name := e.Name(); name[0] != '.' {
			if _, keep := files[name]; !keep {
				os.Remove(filepath.Join(v.Dir, name))
			}
		}
	}
	for name := range files {
		link := filepath.Join(v.Dir, name)
		if _, err := os.Lstat(link); err != nil {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				return err
			}
		}
	}
	if old != "" {
		return os.RemoveAll(filepath.Join(v.Dir, old))
	}
	return nil
}

// GitSync is a git-sync root: each commit is checked out into
// Root/.worktrees/<sha>, with a .git file pointing at Root/.git/worktrees/<sha>
// whose HEAD names the commit, and the link Root/<Link> is swapped to the new
// checkout with one rename. hookguard is given Path().
type GitSync struct {
	Root string
	Link string
	// Subdir is the policy directory within the repository, "" for its root.
	Subdir string
	last   string
}

// Path is the policy directory as a deployment names it: through the link.
func (g *GitSync) Path() string {
	return filepath.Join(g.Root, g.Link, g.Subdir)
}

// Publish checks out a commit holding files (name → content, under Subdir)
// and swaps the link to it. The commit's name is a hash of the files, so the
// same content publishes the same commit; it returns that name.
func (g *GitSync) Publish(files map[string]string) (sha string, err error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha1.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%s\x00", n, files[n])
	}
	sha = hex.EncodeToString(h.Sum(nil))
	if sha == g.last {
		return sha, nil
	}
	wt := filepath.Join(g.Root, ".worktrees", sha)
	gitDir := filepath.Join(g.Root, ".git", "worktrees", sha)
	os.RemoveAll(wt)
	if err := os.MkdirAll(filepath.Join(wt, g.Subdir), 0o755); err != nil {
		return "", err
	}
	if err := os.MkdirAll(gitDir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(gitDir, "HEAD"), []byte(sha+"\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(wt, ".git"), []byte("gitdir: "+gitDir+"\n"), 0o644); err != nil {
		return "", err
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(wt, g.Subdir, n), []byte(files[n]), 0o644); err != nil {
			return "", err
		}
	}
	tmp := filepath.Join(g.Root, "tmp-link")
	os.Remove(tmp)
	if err := os.Symlink(filepath.Join(".worktrees", sha), tmp); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, filepath.Join(g.Root, g.Link)); err != nil {
		return "", err
	}
	if g.last != "" {
		os.RemoveAll(filepath.Join(g.Root, ".worktrees", g.last))
		os.RemoveAll(filepath.Join(g.Root, ".git", "worktrees", g.last))
	}
	g.last = sha
	return sha, nil
}

// WriteRename saves content to path as editors do: into a temporary file in
// the same directory, renamed over the original.
func WriteRename(path, content string) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".swp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
