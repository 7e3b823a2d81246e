package policy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookguard/hookguard/e2e/policyfs"
)

const (
	sha1A = "0123456789abcdef0123456789abcdef01234567"
	sha1B = "89abcdef0123456789abcdef0123456789abcdef"
)

// mkfile writes content to root/rel, making directories as needed.
func mkfile(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestGitRevision(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		dir   string // policy directory, relative to the root
		want  string
	}{
		{"loose branch ref", map[string]string{".git/HEAD": "ref: refs/heads/main\n", ".git/refs/heads/main": sha1A + "\n"}, "policies", sha1A},
		{"packed branch ref", map[string]string{".git/HEAD": "ref: refs/heads/main\n",
			".git/packed-refs": "# pack-refs with: peeled fully-peeled sorted\n" + sha1B + " refs/heads/dev\n" + sha1A + " refs/heads/main\n"}, "a/b", sha1A},
		{"detached head", map[string]string{".git/HEAD": sha1B + "\n"}, "", sha1B},
		{"linked worktree", map[string]string{
			"wt/.git":                          "gitdir: ../repo/.git/worktrees/wt\n",
			"repo/.git/worktrees/wt/HEAD":      "ref: refs/heads/feature\n",
			"repo/.git/worktrees/wt/commondir": "../..\n",
			"repo/.git/refs/heads/feature":     sha1B + "\n"}, "wt/policies", sha1B},
		{"sha-256 repository", map[string]string{".git/HEAD": strings.Repeat("ab", 32) + "\n"}, "", strings.Repeat("ab", 32)},
		{"unborn branch", map[string]string{".git/HEAD": "ref: refs/heads/main\n"}, "p", ""},
		{"git-sync link name, .git pointing elsewhere", map[string]string{
			".worktrees/" + sha1A + "/.git": "gitdir: /nonexistent/.git/worktrees/x\n"}, ".worktrees/" + sha1A + "/policies", sha1A},
		{"git-sync v3 rev- name", map[string]string{}, "rev-" + sha1B + "/policies", sha1B},
		{"no git", map[string]string{}, "policies", ""},
		{"garbage HEAD", map[string]string{".git/HEAD": "ref: ../../etc/passwd\n"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for rel, content := range tt.files {
				mkfile(t, root, rel, content)
			}
			dir := filepath.Join(root, tt.dir)
			os.MkdirAll(dir, 0o755)
			if got := gitRevision(dir); got != tt.want {
				t.Errorf("gitRevision = %q, want %q", got, tt.want)
			}
			if got := Revision(dir, "sha256:x"); tt.want == "" && got != "sha256:x" {
				t.Errorf("Revision without a commit = %q, want the digest", got)
			}
		})
	}
}

// TestRevisionOfThisRepository compares with git itself, where git and a
// checkout are at hand (a developer's clone, CI's).
func TestRevisionOfThisRepository(t *testing.T) {
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("no git checkout or git binary: %v", err)
	}
	res, err := Load("../../policies", Options{Secrets: Placeholders{}})
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(string(out)); res.Revision != want {
		t.Errorf("revision %q, git says %q", res.Revision, want)
	}
	if !strings.HasPrefix(res.Digest, "sha256:") || res.Digest == res.Revision {
		t.Errorf("digest %q", res.Digest)
	}
}

func TestLoadGitSyncCheckout(t *testing.T) {
	g := &policyfs.GitSync{Root: t.TempDir(), Link: "current", Subdir: "policies"}
	sha, err := g.Publish(map[string]string{"a.yaml": validGitHub})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Load(g.Path(), Options{Secrets: testSecrets})
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != sha || res.Policy.Revision() != sha {
		t.Errorf("revision %q, want the commit %s", res.Revision, sha)
	}
	// Diagnostics and relative secret paths keep the path as configured,
	// not the checkout it resolves to.
	if want := filepath.Join(g.Path(), "a.yaml"); res.Files[0] != want {
		t.Errorf("files %v, want %s", res.Files, want)
	}
}
