package policy

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookguard/hookguard/e2e/policyfs"
)

// TestLoadNeverMixesVersions loads a ConfigMap-style volume again and again
// while another goroutine keeps swapping it between two sets whose files
// define the same endpoints the other way round: a load that read one file
// of each set would define an endpoint twice. Every load must yield one
// whole set or, when the volume changes under every attempt, say so.
func TestLoadNeverMixesVersions(t *testing.T) {
	ep := func(name string) string {
		return "endpoints:\n- name: " + name + "\n  match: {path: /" + name + "}\n  verify: {github: {secrets: [{env: GITHUB_SECRET}]}}\n"
	}
	a := map[string]string{"1.yaml": ep("one"), "2.yaml": ep("two")}
	b := map[string]string{"1.yaml": ep("two"), "2.yaml": ep("one") + "# b\n"}
	v, err := policyfs.NewVolume(filepath.Join(t.TempDir(), "vol"), a)
	if err != nil {
		t.Fatal(err)
	}
	resA, _ := Load(v.Dir, Options{Secrets: testSecrets})
	v.Write(b)
	resB, _ := Load(v.Dir, Options{Secrets: testSecrets})
	if resA == nil || resB == nil {
		t.Fatal("the sets do not load on their own")
	}

	var stop atomic.Bool
	swaps := make(chan int)
	go func() {
		n := 0
		for ; !stop.Load() && n < 20000; n++ {
			set := a
			if n%2 == 0 {
				set = b
			}
			if err := v.Write(set); err != nil {
				t.Error(err)
				break
			}
		}
		swaps <- n
	}()
	var ok, busy int
	var mixed error
	deadline := time.Now().Add(1500 * time.Millisecond)
	for i := 0; i < 2000 && time.Now().Before(deadline) && mixed == nil; i++ {
		res, err := Load(v.Dir, Options{Secrets: testSecrets})
		switch {
		case err == nil && (res.Digest == resA.Digest || res.Digest == resB.Digest):
			ok++
		case err != nil && strings.Contains(err.Error(), "changed during each"):
			busy++
		default:
			mixed = fmt.Errorf("load %d: a set that is neither A nor B: %v", i, err)
		}
	}
	stop.Store(true)
	if mixed != nil {
		<-swaps
		t.Fatal(mixed)
	}
	t.Logf("%d whole loads, %d gave up on a constantly changing directory, %d swaps", ok, busy, <-swaps)
	if ok == 0 {
		t.Error("no load succeeded")
	}
}

func TestResultSameAsAndSecretFiles(t *testing.T) {
	dir := writeDir(t, map[string]string{"a.yaml": validGitHub})
	a, err := Load(dir, Options{Secrets: testSecrets})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Load(dir, Options{Secrets: testSecrets})
	if !a.SameAs(b) || a.SameAs(nil) {
		t.Error("the same set and secrets are not SameAs")
	}
	rotated := fakeSecrets{env: testSecrets.env, files: map[string]string{"/run/secrets/github-old": "rotated"}}
	c, _ := Load(dir, Options{Secrets: rotated})
	if a.SameAs(c) || a.Digest != c.Digest {
		t.Error("a rotated secret file is not told apart")
	}
	if len(a.SecretFiles) != 1 || a.SecretFiles[0] != "/run/secrets/github-old" {
		t.Errorf("secret files %v", a.SecretFiles)
	}
}
