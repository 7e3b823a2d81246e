package reload_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/reload"
	"github.com/hookguard/hookguard/authz/internal/replay"
	"github.com/hookguard/hookguard/authz/verify"
)

// TestChangeInsideTheWatchWindow forces open the window between a load and
// the update of the watches: the policy starts referencing a secret file,
// and that file changes after the load read it but before it is watched.
// The change must still be picked up.
func TestChangeInsideTheWatchWindow(t *testing.T) {
	// The secret's directory is nothing the Reloader watches before the
	// policy references it (unlike the policy directory's parent), so a
	// write to it before the watch is added sends no event at all.
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "policies")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writePolicy := func(ref string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "gh.yaml"), []byte(fmt.Sprintf(`
endpoints:
  - name: gh
    match: {path: /gh}
    verify: {github: {secrets: [%s]}}
    replay: {disabled: true}
`, ref)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writePolicy(`{env: TOKEN}`)

	a := authz.NewAuthorizer(authz.Config{Nonces: replay.NewMemory(replay.MemoryConfig{Capacity: 10})})
	rec := &recorder{}
	r := reload.New(dir, a, reload.Config{Secrets: testEnv, Debounce: 20 * time.Millisecond, Notify: rec.notify})
	var armed atomic.Bool
	reload.SetAfterLoad(r, func() {
		if armed.CompareAndSwap(true, false) {
			if err := os.WriteFile(secret, []byte("two\n"), 0o644); err != nil {
				t.Error(err)
			}
		}
	})
	if err := r.Load(reload.TriggerStart); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	// Let the catch-up load after start pass, so the next load is the one
	// that reads the new policy.
	waitFor(t, 2*time.Second, "the catch-up load after start", func() bool { return len(rec.list()) >= 2 })

	accepts := func(key string) bool {
		body := []byte(`{"n":1}`)
		h, _ := verify.Sign("github", authz.Secret(key), verify.Message{Body: body})
		req := &authz.Request{Method: "POST", Path: "/gh", Header: authz.Header{}, Body: body}
		for _, kv := range h {
			req.Header[strings.ToLower(kv.Name)] = kv.Value
		}
		return a.Check(context.Background(), req).Outcome() == authz.OutcomeAllow
	}
	armed.Store(true)
	writePolicy(fmt.Sprintf(`{file: %s}`, secret))
	waitFor(t, 3*time.Second, "the secret file's change made inside the window", func() bool { return accepts("two") })
	if armed.Load() {
		t.Fatal("the window was never opened: the test proves nothing")
	}
	if accepts("one") {
		t.Error("the secret the file no longer holds is still accepted")
	}
}
