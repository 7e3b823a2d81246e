package policy

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Revision names the policy set held in realDir, a directory with every
// symlink resolved: the commit checked out when realDir is inside a Git
// working tree, else digest.
//
// The commit is read from the .git directory or file directly, so no git
// binary is needed: HEAD, then the branch it names as a loose ref or in
// packed-refs, in the worktree's own directory and then in the common one.
// A git-sync checkout is recognised by its .git file as well, or, where that
// file points at a path only the git-sync container can see, by the name of
// the directory git-sync's link resolves to, which is the commit itself
// (".worktrees/<sha>" or "rev-<sha>").
//
// A commit names what is committed: a file edited in the working tree
// changes Digest but not the commit, so both belong in status output.
func Revision(realDir, digest string) string {
	if rev := gitRevision(realDir); rev != "" {
		return rev
	}
	return digest
}

// commitName is a full SHA-1 or SHA-256 object name.
var commitName = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)

// gitSyncWorktree is the name git-sync gives the directory its link points
// at: the commit, with a "rev-" prefix in some versions.
var gitSyncWorktree = regexp.MustCompile(`^(?:rev-)?([0-9a-f]{40}|[0-9a-f]{64})$`)

// gitRevision returns the commit checked out in the working tree holding
// dir, or "" when there is none or it cannot be read.
func gitRevision(dir string) string {
	for d := dir; ; {
		if gitDir, ok := findGitDir(d); ok {
			if rev := readHead(gitDir); rev != "" {
				return rev
			}
			break
		}
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	for d := dir; ; {
		if m := gitSyncWorktree.FindStringSubmatch(filepath.Base(d)); m != nil {
			return m[1]
		}
		parent := filepath.Dir(d)
		if parent == d {
			return ""
		}
		d = parent
	}
}

// findGitDir returns the Git directory of a working tree rooted at d: d/.git
// itself, or the directory a .git file names ("gitdir: <path>", as linked
// worktrees, submodules and git-sync write it).
func findGitDir(d string) (string, bool) {
	p := filepath.Join(d, ".git")
	info, err := os.Stat(p)
	switch {
	case err != nil:
		return "", false
	case info.IsDir():
		return p, true
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", true
	}
	target, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "gitdir:")
	if !ok {
		return "", true
	}
	target = strings.TrimSpace(target)
	if !filepath.IsAbs(target) {
		target = filepath.Join(d, target)
	}
	return target, true
}

// readHead resolves HEAD in gitDir to a commit, following symbolic refs.
func readHead(gitDir string) string {
	if gitDir == "" {
		return ""
	}
	common := gitDir
	if b, err := os.ReadFile(filepath.Join(gitDir, "commondir")); err == nil {
		c := strings.TrimSpace(string(b))
		if !filepath.IsAbs(c) {
			c = filepath.Join(gitDir, c)
		}
		common = c
	}
	ref := "HEAD"
	for range 5 { // symbolic refs rarely nest; a loop must not hang a load
		v := readRef(gitDir, common, ref)
		target, symbolic := strings.CutPrefix(v, "ref:")
		if !symbolic {
			if commitName.MatchString(v) {
				return v
			}
			return ""
		}
		ref = strings.TrimSpace(target)
		if !strings.HasPrefix(ref, "refs/") || strings.Contains(ref, "..") {
			return ""
		}
	}
	return ""
}

// readRef returns the value of ref: its file in the worktree's Git directory
// (HEAD, per-worktree refs), else in the common directory, else its line in
// packed-refs.
func readRef(gitDir, common, ref string) string {
	for _, d := range []string{gitDir, common} {
		if b, err := os.ReadFile(filepath.Join(d, filepath.FromSlash(ref))); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	f, err := os.Open(filepath.Join(common, "packed-refs"))
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	suffix := []byte(" " + ref)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if bytes.HasSuffix(line, suffix) {
			return string(bytes.TrimSuffix(line, suffix))
		}
	}
	return ""
}
