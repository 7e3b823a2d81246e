package reload_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/reload"
	"github.com/hookguard/hookguard/authz/internal/replay"
	"github.com/hookguard/hookguard/authz/policy"
	"github.com/hookguard/hookguard/authz/verify"
	"github.com/hookguard/hookguard/e2e/policyfs"
)

var testEnv = policyfs.Env{"TOKEN": "tok-1"}

// digestOf loads files from a scratch directory and returns their digest.
func digestOf(t *testing.T, files map[string]string) string {
	t.Helper()
	dir, err := policyfs.WriteFiles(t.TempDir(), files)
	if err != nil {
		t.Fatal(err)
	}
	res, err := policy.Load(dir, policy.Options{Secrets: testEnv})
	if err != nil {
		t.Fatal(err)
	}
	return res.Digest
}

// recorder collects Notify events.
type recorder struct {
	mu     sync.Mutex
	events []reload.Event
}

func (r *recorder) notify(e reload.Event) { r.mu.Lock(); r.events = append(r.events, e); r.mu.Unlock() }
func (r *recorder) list() []reload.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]reload.Event(nil), r.events...)
}

type fixture struct {
	a   *authz.Authorizer
	r   *reload.Reloader
	rec *recorder
}

// start loads dir and runs the Reloader until the test ends.
func start(t *testing.T, dir string, opts reload.Config) *fixture {
	t.Helper()
	f := &fixture{a: authz.NewAuthorizer(authz.Config{Nonces: replay.NewMemory(replay.MemoryConfig{Capacity: 1000})}), rec: &recorder{}}
	if opts.Secrets == nil {
		opts.Secrets = testEnv
	}
	opts.Notify = f.rec.notify
	opts.WatchError = func(err error) { t.Logf("watch error: %v", err) }
	f.r = reload.New(dir, f.a, opts)
	if err := f.r.Load(reload.TriggerStart); err != nil {
		t.Fatalf("first load: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	})
	// Give Run a moment to set its watches up before the test changes
	// anything; a change before that would be missed by design.
	time.Sleep(50 * time.Millisecond)
	return f
}

// waitFor polls cond every 5 ms for up to d and returns how long it took.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("no %s within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func tokenRequest(path, token string) *authz.Request {
	return &authz.Request{Method: "POST", Host: "h", Path: path, Header: authz.Header{"x-token": token}}
}

func setHeader(d authz.Decision, name string) string {
	for _, h := range d.SetHeaders {
		if h.Name == name {
			return h.Value
		}
	}
	return ""
}

func TestLastKnownGood(t *testing.T) {
	dir := t.TempDir()
	write := func(files map[string]string) {
		for n, c := range files {
			os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644)
		}
	}
	write(policyfs.SetA)
	rec := &recorder{}
	a := authz.NewAuthorizer(authz.Config{Nonces: replay.NewMemory(replay.MemoryConfig{Capacity: 10})})
	r := reload.New(dir, a, reload.Config{Secrets: testEnv, Notify: rec.notify})
	if err := r.Load(reload.TriggerStart); err != nil {
		t.Fatal(err)
	}
	revA := r.Status().Revision

	write(policyfs.SetC)
	err := r.Load(reload.TriggerSignal)
	var errs policy.Errors
	if !errors.As(err, &errs) || len(errs) != 1 {
		t.Fatalf("invalid set: %v", err)
	}
	// The refusal has one shape: the error, the event and the status.
	var f *reload.Failure
	if !errors.As(err, &f) || f != rec.list()[1].Err || f.Trigger != reload.TriggerSignal || len(f.Errors) != 1 {
		t.Fatalf("the error is no *Failure matching the event: %#v", err)
	}
	if msg := err.Error(); msg != errs[0].Error() || strings.Contains(msg, "\n") {
		t.Errorf("error %q, want the one diagnostic %q", msg, errs[0].Error())
	}
	st := r.Status()
	if st.Revision != revA || a.Policy().Revision() != revA || st.LastFailure == nil || st.Failures != 1 {
		t.Fatalf("after a refused set: %+v", st)
	}
	d := st.LastFailure.Errors[0]
	if filepath.Base(d.File) != "two.yaml" || d.Line != 6 || d.Endpoint != "one" || d.Field != "replay.ttl" || st.LastFailure.Trigger != reload.TriggerSignal {
		t.Errorf("failure detail: %+v", d)
	}
	if got := a.Check(context.Background(), tokenRequest("/one", "tok-1")); got.Outcome() != authz.OutcomeAllow || setHeader(got, "x-set") != "a" {
		t.Errorf("the last good set is not in force: %+v", got)
	}

	write(policyfs.SetB)
	if err := r.Load(reload.TriggerWatch); err != nil {
		t.Fatal(err)
	}
	st = r.Status()
	if st.LastFailure != nil || st.Loads != 2 || st.Failures != 1 || st.Revision == revA || st.Endpoints != 2 {
		t.Errorf("a good set did not clear the failure: %+v", st)
	}
	ev := rec.list()
	if len(ev) != 3 || !ev[0].Changed || ev[0].Restored || ev[1].Err == nil || !ev[2].Changed || ev[2].Result == nil || !ev[2].Restored {
		t.Errorf("events: %+v", ev)
	}
	// The same set again changes nothing, and restores nothing.
	r.Load(reload.TriggerSignal)
	if ev := rec.list(); ev[3].Changed || ev[3].Err != nil || ev[3].Restored {
		t.Errorf("reloading the same set: %+v", ev[3])
	}
}

// TestRevertRestores reverts a refused change to the content in force: the
// set is unchanged, but the load says the policy is good again.
func TestRevertRestores(t *testing.T) {
	dir, err := policyfs.WriteFiles(t.TempDir(), policyfs.SetA)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	r := reload.New(dir, authz.NewAuthorizer(authz.Config{}), reload.Config{Secrets: testEnv, Notify: rec.notify})
	if err := r.Load(reload.TriggerStart); err != nil {
		t.Fatal(err)
	}
	if _, err := policyfs.WriteFiles(dir, policyfs.SetC); err != nil {
		t.Fatal(err)
	}
	if r.Load(reload.TriggerWatch) == nil {
		t.Fatal("set C loaded")
	}
	if _, err := policyfs.WriteFiles(dir, policyfs.SetA); err != nil {
		t.Fatal(err)
	}
	if err := r.Load(reload.TriggerWatch); err != nil {
		t.Fatal(err)
	}
	ev := rec.list()
	if last := ev[len(ev)-1]; last.Changed || !last.Restored || last.Err != nil {
		t.Errorf("revert to the running set: %+v", last)
	}
	if st := r.Status(); st.LastFailure != nil {
		t.Errorf("the revert left the failure in the status: %+v", st.LastFailure)
	}
}

// TestRecheckAfterStart checks the load Run makes once its watches are up:
// named recheck, unchanged on a quiet start, and catching a change made
// between the first load and the watch.
func TestRecheckAfterStart(t *testing.T) {
	for _, changed := range []bool{false, true} {
		t.Run(fmt.Sprintf("changed=%v", changed), func(t *testing.T) {
			dir, err := policyfs.WriteFiles(t.TempDir(), policyfs.SetA)
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			a := authz.NewAuthorizer(authz.Config{})
			r := reload.New(dir, a, reload.Config{Secrets: testEnv, Notify: rec.notify, Debounce: 20 * time.Millisecond})
			if err := r.Load(reload.TriggerStart); err != nil {
				t.Fatal(err)
			}
			if changed {
				// Unseen: nothing watches yet.
				if _, err := policyfs.WriteFiles(dir, policyfs.SetB); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			waitFor(t, 2*time.Second, "the recheck", func() bool { return len(rec.list()) == 2 })
			time.Sleep(100 * time.Millisecond) // no further load follows
			cancel()
			<-done
			ev := rec.list()
			if len(ev) != 2 || ev[1].Trigger != reload.TriggerRecheck || ev[1].Err != nil || ev[1].Changed != changed {
				t.Errorf("events after start: %+v", ev)
			}
			if changed && a.Policy().Revision() != digestOf(t, policyfs.SetB) {
				t.Errorf("the recheck did not pick up set B")
			}
		})
	}
}

func TestInvalidStartKeepsNothing(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(policyfs.SetC["two.yaml"]), 0o644)
	a := authz.NewAuthorizer(authz.Config{Nonces: replay.NewMemory(replay.MemoryConfig{Capacity: 10})})
	r := reload.New(dir, a, reload.Config{Secrets: testEnv})
	if err := r.Load(reload.TriggerStart); err == nil || a.Policy() != nil {
		t.Fatalf("an invalid first set: err %v, policy %v", err, a.Policy())
	}
	if st := r.Status(); st.Revision != "" || st.LastFailure == nil {
		t.Errorf("status %+v", st)
	}
}

// TestVolumeSwap publishes sets the way a ConfigMap volume changes, and
// checks each is live within a second, and that the invalid one never is.
func TestVolumeSwap(t *testing.T) {
	v, err := policyfs.NewVolume(filepath.Join(t.TempDir(), "policies"), policyfs.SetA)
	if err != nil {
		t.Fatal(err)
	}
	f := start(t, v.Dir, reload.Config{})
	revB := digestOf(t, policyfs.SetB)
	v.Write(policyfs.SetB)
	took := waitFor(t, 2*time.Second, "reload to set B", func() bool { return f.a.Policy().Revision() == revB })
	t.Logf("volume swap live after %v", took)

	v.Write(policyfs.SetC)
	waitFor(t, 2*time.Second, "refusal of set C", func() bool { return f.r.Status().LastFailure != nil })
	if f.a.Policy().Revision() != revB {
		t.Fatal("set C replaced B")
	}
	v.Write(policyfs.SetA)
	waitFor(t, 2*time.Second, "reload to set A", func() bool { return f.a.Policy().Revision() == digestOf(t, policyfs.SetA) })
	if f.r.Status().LastFailure != nil {
		t.Error("a good set did not clear the failure")
	}
}

// TestGitSync publishes commits the way git-sync does, through a symlink to
// a subdirectory of each checkout, and checks the revision is the commit.
func TestGitSync(t *testing.T) {
	g := &policyfs.GitSync{Root: t.TempDir(), Link: "current", Subdir: "policies"}
	shaA, err := g.Publish(policyfs.SetA)
	if err != nil {
		t.Fatal(err)
	}
	f := start(t, g.Path(), reload.Config{})
	if got := f.r.Status().Revision; got != shaA {
		t.Fatalf("revision %q, want the commit %s", got, shaA)
	}
	shaB, _ := g.Publish(policyfs.SetB)
	took := waitFor(t, 2*time.Second, "reload to the second commit", func() bool { return f.a.Policy().Revision() == shaB })
	t.Logf("git-sync swap live after %v", took)
	if _, err := os.Stat(filepath.Join(g.Root, ".worktrees", shaA)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("the old checkout was not removed")
	}
	g.Publish(policyfs.SetA)
	waitFor(t, 2*time.Second, "reload back to the first commit", func() bool { return f.a.Policy().Revision() == shaA })
}

// TestWriteRenameAndFilesComingAndGoing edits a plain directory as an editor
// does, then adds and removes a file.
func TestWriteRenameAndFilesComingAndGoing(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "one.yaml"), []byte(policyfs.SetA["one.yaml"]), 0o644)
	f := start(t, dir, reload.Config{})
	ctx := context.Background()

	policyfs.WriteRename(filepath.Join(dir, "one.yaml"), "endpoints:"+policyfs.TokenEndpoint("one", "edited"))
	waitFor(t, 2*time.Second, "reload after write-rename", func() bool {
		return setHeader(f.a.Check(ctx, tokenRequest("/one", "tok-1")), "x-set") == "edited"
	})

	os.WriteFile(filepath.Join(dir, "two.yaml"), []byte(policyfs.SetA["two.yaml"]), 0o644)
	waitFor(t, 2*time.Second, "a new file's endpoint", func() bool { return f.a.Check(ctx, tokenRequest("/two", "tok-1")).Outcome() == authz.OutcomeAllow })

	os.Remove(filepath.Join(dir, "two.yaml"))
	waitFor(t, 2*time.Second, "a removed file's endpoint to go", func() bool {
		return f.a.Check(ctx, tokenRequest("/two", "tok-1")).Reason == authz.NoEndpoint
	})

	// The directory vanishing is a refused set; the policy stays until the
	// directory is back.
	hidden := dir + ".away"
	os.Rename(dir, hidden)
	waitFor(t, 2*time.Second, "refusal of a vanished directory", func() bool { return f.r.Status().LastFailure != nil })
	if f.a.Check(ctx, tokenRequest("/one", "tok-1")).Outcome() != authz.OutcomeAllow {
		t.Fatal("the policy went with the directory")
	}
	os.Rename(hidden, dir)
	waitFor(t, 2*time.Second, "reload of the returned directory", func() bool { return f.r.Status().LastFailure == nil })
}

// TestSecretFileRotation rotates a GitHub secret held in a Secret volume:
// add the new secret beside the old, then drop the old.
func TestSecretFileRotation(t *testing.T) {
	root := t.TempDir()
	sv, err := policyfs.NewVolume(filepath.Join(root, "secrets"), map[string]string{"github": "old-secret\n"})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "policies")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "gh.yaml"), []byte(fmt.Sprintf(`
endpoints:
  - name: gh
    match: {path: /gh}
    verify: {github: {secrets: [{file: %s}, {file: %s}]}}
    replay: {disabled: true}
`, filepath.Join(sv.Dir, "github"), filepath.Join(sv.Dir, "github-next"))), 0o644)

	f := &fixture{a: authz.NewAuthorizer(authz.Config{Nonces: replay.NewMemory(replay.MemoryConfig{Capacity: 10})}), rec: &recorder{}}
	f.r = reload.New(dir, f.a, reload.Config{Secrets: testEnv, Notify: f.rec.notify})
	if err := f.r.Load(reload.TriggerStart); err == nil {
		t.Fatal("loaded with a missing secret file")
	}
	// The second file is missing: the set is refused, and the Reloader
	// watches for the file to appear.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.r.Run(ctx)
	time.Sleep(50 * time.Millisecond)

	accepts := func(secret string) bool {
		body := []byte(`{"n":1}`)
		h, _ := verify.Sign("github", authz.Secret(secret), verify.Message{Body: body})
		r := &authz.Request{Method: "POST", Path: "/gh", Header: authz.Header{}, Body: body}
		for _, kv := range h {
			r.Header[strings.ToLower(kv.Name)] = kv.Value
		}
		return f.a.Check(context.Background(), r).Outcome() == authz.OutcomeAllow
	}

	sv.Write(map[string]string{"github": "old-secret\n", "github-next": "new-secret\n"})
	waitFor(t, 2*time.Second, "load once both secret files exist", func() bool { return f.a.Policy() != nil })
	if !accepts("old-secret") || !accepts("new-secret") {
		t.Fatal("during the roll both secrets must be accepted")
	}
	sv.Write(map[string]string{"github": "new-secret\n", "github-next": "new-secret\n"})
	waitFor(t, 2*time.Second, "the old secret to stop being accepted", func() bool { return !accepts("old-secret") })
	if !accepts("new-secret") {
		t.Fatal("the new secret is refused")
	}
	if st := f.r.Status(); len(st.SecretFiles) != 2 || !strings.HasSuffix(st.SecretFiles[0], "github") {
		t.Errorf("secret files %v", st.SecretFiles)
	}
	for _, e := range f.rec.list() {
		if e.Err != nil && strings.Contains(e.Err.Error(), "secret") && strings.Contains(e.Err.Error(), "old-secret") {
			t.Errorf("an error quotes a secret: %v", e.Err)
		}
	}
}

// TestTriggerAndManual checks that with the watch off, only Trigger
// reloads.
func TestTriggerAndManual(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "one.yaml"), []byte(policyfs.SetA["one.yaml"]), 0o644)
	f := start(t, dir, reload.Config{Manual: true})
	os.WriteFile(filepath.Join(dir, "one.yaml"), []byte("endpoints:"+policyfs.TokenEndpoint("one", "signalled")), 0o644)
	time.Sleep(3 * reload.DefaultDebounce)
	if n := len(f.rec.list()); n != 1 {
		t.Fatalf("%d loads without a trigger, want only the first", n)
	}
	f.r.Trigger()
	waitFor(t, 2*time.Second, "reload on Trigger", func() bool {
		ev := f.rec.list()
		return len(ev) == 2 && ev[1].Trigger == reload.TriggerSignal && ev[1].Changed
	})
}

// TestDebounce writes a burst of changes and expects them to be loaded
// once or twice, not once per write, and a stream longer than MaxDelay to
// be loaded before it ends.
func TestDebounce(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "one.yaml"), []byte(policyfs.SetA["one.yaml"]), 0o644)
	f := start(t, dir, reload.Config{Debounce: 100 * time.Millisecond, MaxDelay: 400 * time.Millisecond})
	for i := range 20 {
		os.WriteFile(filepath.Join(dir, "one.yaml"), []byte("endpoints:"+policyfs.TokenEndpoint("one", fmt.Sprint(i))), 0o644)
		time.Sleep(2 * time.Millisecond)
	}
	waitFor(t, 2*time.Second, "the burst to be loaded", func() bool {
		return setHeader(f.a.Check(context.Background(), tokenRequest("/one", "tok-1")), "x-set") == "19"
	})
	time.Sleep(200 * time.Millisecond)
	changed := 0
	for _, e := range f.rec.list()[1:] {
		if e.Changed {
			changed++
		}
	}
	if changed < 1 || changed > 2 {
		t.Errorf("%d loads for a burst of 20 writes", changed)
	}

	// A write every 50 ms for 1 s never leaves 100 ms of quiet; MaxDelay
	// still loads every 400 ms.
	before := len(f.rec.list())
	for i := range 20 {
		os.WriteFile(filepath.Join(dir, "one.yaml"), []byte("endpoints:"+policyfs.TokenEndpoint("one", fmt.Sprint("s", i))), 0o644)
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(f.rec.list()) - before; n < 2 {
		t.Errorf("%d loads during a 1 s stream of changes, want MaxDelay to force some", n)
	}
}

// TestReloadUnderLoad decides requests continuously on several goroutines
// while the directory is swapped between two valid sets and an invalid one.
// Every decision must be right for the snapshot it was decided on: when the
// policy revision is the same before and after a Check, the decision must be
// that revision's; when it changed, either revision's. The invalid set must
// never decide anything.
func TestReloadUnderLoad(t *testing.T) {
	v, err := policyfs.NewVolume(filepath.Join(t.TempDir(), "policies"), policyfs.SetA)
	if err != nil {
		t.Fatal(err)
	}
	f := start(t, v.Dir, reload.Config{})
	revs := map[string]string{digestOf(t, policyfs.SetA): "a", digestOf(t, policyfs.SetB): "b"}

	const workers, maxPerWorker = 2, 500000
	var checks, wrong atomic.Int64
	var firstWrong atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			paths := []string{"/one", "/two", "/three"}
			for i := 0; i < maxPerWorker; i++ {
				select {
				case <-stop:
					return
				default:
				}
				path := paths[(i+w)%len(paths)]
				before := f.a.Policy().Revision()
				d := f.a.Check(ctx, tokenRequest(path, "tok-1"))
				after := f.a.Policy().Revision()
				checks.Add(1)
				ok := false
				for _, rev := range []string{before, after} {
					set, known := revs[rev]
					if !known {
						continue
					}
					if path == "/three" {
						ok = ok || (d.Outcome() == authz.OutcomeDeny && d.Reason == authz.NoEndpoint)
					} else {
						ok = ok || (d.Outcome() == authz.OutcomeAllow && setHeader(d, "x-set") == set && d.Endpoint == path[1:])
					}
				}
				if !ok {
					wrong.Add(1)
					firstWrong.CompareAndSwap(nil, fmt.Sprintf("%s between %s and %s: %+v", path, before, after, d))
				}
			}
		}()
	}

	sets := []map[string]string{policyfs.SetB, policyfs.SetC, policyfs.SetA, policyfs.SetC, policyfs.SetB, policyfs.SetA}
	const rounds = 3
	var latencies []time.Duration
	for range rounds {
		for _, set := range sets {
			failures := f.r.Status().Failures
			swapped := time.Now()
			if err := v.Write(set); err != nil {
				t.Fatal(err)
			}
			if set["one.yaml"] == policyfs.SetC["one.yaml"] {
				waitFor(t, 3*time.Second, "refusal of the invalid set", func() bool { return f.r.Status().Failures > failures })
				continue
			}
			want := digestOf(t, set)
			waitFor(t, 3*time.Second, "the swapped set", func() bool { return f.a.Policy().Revision() == want })
			latencies = append(latencies, time.Since(swapped))
		}
	}
	close(stop)
	wg.Wait()

	st := f.r.Status()
	var worst time.Duration
	for _, l := range latencies {
		worst = max(worst, l)
	}
	t.Logf("%d checks, %d wrong, %d swaps (%d invalid), reload latency worst %v, loads %d, refusals %d",
		checks.Load(), wrong.Load(), rounds*len(sets), rounds*2, worst, st.Loads, st.Failures)
	if wrong.Load() != 0 {
		t.Errorf("%d wrong decisions; first: %v", wrong.Load(), firstWrong.Load())
	}
	// A load that had mixed the files of two sets would have defined an
	// endpoint twice and been refused for it.
	for _, e := range f.rec.list() {
		if e.Err != nil && strings.Contains(e.Err.Error(), "duplicate endpoint") {
			t.Errorf("a load mixed two sets: %v", e.Err)
		}
	}
	if st.Failures < rounds*2 {
		t.Errorf("%d refused loads, want at least %d", st.Failures, rounds*2)
	}
	if checks.Load() < 1000 {
		t.Errorf("only %d checks ran during the swaps", checks.Load())
	}
}

// TestDataFileChange checks that an IP list kept in a subdirectory, which
// the directory watch does not cover, is watched too: editing it reloads.
func TestDataFileChange(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "lists"), 0o755)
	list := filepath.Join(dir, "lists", "senders.txt")
	os.WriteFile(list, []byte("192.0.2.0/24\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "gh.yaml"), []byte(`
endpoints:
  - name: gh
    match: {path: /gh}
    verify: {token: {header: x-token, secrets: [{env: TOKEN}]}}
    source: {ip_lists: {senders: lists/senders.txt}}
`), 0o644)
	f := start(t, dir, reload.Config{})
	from := func(addr string) authz.Reason {
		r := tokenRequest("/gh", testEnv["TOKEN"])
		r.Source = netip.AddrPortFrom(netip.MustParseAddr(addr), 1234)
		return f.a.Check(context.Background(), r).Reason
	}
	if got := from("198.51.100.1"); got != authz.SourceNotAllowed {
		t.Fatalf("before the edit: %s", got)
	}
	// Let Run's own first load pass, so only the watch can see the edit.
	waitFor(t, 3*time.Second, "Run's first load", func() bool { return len(f.rec.list()) >= 2 })
	os.WriteFile(list, []byte("192.0.2.0/24\n198.51.100.0/24\n"), 0o644)
	waitFor(t, 3*time.Second, "the edited IP list to apply", func() bool { return from("198.51.100.1") == authz.OK })
	if st := f.r.Status(); len(st.DataFiles) != 1 || st.DataFiles[0] != list {
		t.Errorf("status data files %v", st.DataFiles)
	}
}
