package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hookguard/hookguard/authz/internal/reload"
	"github.com/hookguard/hookguard/authz/policy"
	"github.com/hookguard/hookguard/e2e/policyfs"
)

var reloadSecrets = policyfs.Env{"TOKEN": "tok"}

// revisionOf is the revision a set loads with outside Git: its digest.
func revisionOf(t *testing.T, files map[string]string) string {
	t.Helper()
	dir, err := policyfs.WriteFiles(t.TempDir(), files)
	if err != nil {
		t.Fatal(err)
	}
	res, err := policy.Load(dir, policy.Options{Secrets: reloadSecrets})
	if err != nil {
		t.Fatal(err)
	}
	return res.Revision
}

// syncBuffer collects log lines from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines parses every JSON line written so far.
func (s *syncBuffer) lines() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// outcome is what one Check answered.
type outcome struct {
	allowed bool
	set     string // x-set on allow
	status  int32  // on deny
}

func checkToken(ctx context.Context, c authv3.AuthorizationClient, path, id string) (outcome, error) {
	resp, err := c.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "POST", Path: path, Host: "h",
			Headers: map[string]string{"x-token": "tok", "x-request-id": id},
		}},
	}})
	if err != nil {
		return outcome{}, err
	}
	if ok := resp.GetOkResponse(); ok != nil {
		o := outcome{allowed: true}
		for _, h := range ok.GetHeaders() {
			if h.GetHeader().GetKey() == "x-set" {
				o.set = h.GetHeader().GetValue()
			}
		}
		return o, nil
	}
	return outcome{status: int32(resp.GetDeniedResponse().GetStatus().GetCode())}, nil
}

func adminJSON(t *testing.T, r *running, path string) (int, adminStatus) {
	t.Helper()
	resp, err := http.Get("http://" + r.adminAddr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st adminStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return resp.StatusCode, st
}

func metrics(t *testing.T, r *running) string {
	t.Helper()
	resp, err := http.Get("http://" + r.adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestReloadUnderLoad is the acceptance test for hot reload: Check calls
// flow continuously over loopback gRPC while the policy volume is swapped
// many times between two valid sets and an invalid one. No call may fail,
// every answer must be right for the set named by the revision its decision
// was logged with (so no request saw a mix of two sets), the invalid set
// must never answer, and each swap must be live within the bound.
func TestReloadUnderLoad(t *testing.T) {
	v, err := policyfs.NewVolume(filepath.Join(t.TempDir(), "policies"), policyfs.SetA)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	r := startWith(t, Config{PolicyDir: v.Dir, Secrets: reloadSecrets, Log: zerolog.New(logs)})
	sets := map[string]string{revisionOf(t, policyfs.SetA): "a", revisionOf(t, policyfs.SetB): "b"}
	client := authv3.NewAuthorizationClient(r.conn)

	const (
		workers      = 2
		maxPerWorker = 50000
		bound        = 2 * time.Second // a swap must be live within this
	)
	var (
		sent, failed atomic.Int64
		mu           sync.Mutex
		answers      = map[string]outcome{} // by request id
		errs         []string
		stop         = make(chan struct{})
		wg           sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paths := []string{"/one", "/two", "/three"}
			for i := range maxPerWorker {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				o, err := checkToken(ctx, client, paths[i%len(paths)], id)
				cancel()
				sent.Add(1)
				mu.Lock()
				if err != nil {
					failed.Add(1)
					errs = append(errs, id+": "+err.Error())
				} else {
					answers[id] = o
				}
				mu.Unlock()
			}
		}()
	}

	// live polls until /one answers with set, and returns how long that took.
	live := func(set string, since time.Time) time.Duration {
		for time.Since(since) < bound {
			if o, err := checkToken(context.Background(), client, "/one", "probe"); err == nil && o.set == set {
				return time.Since(since)
			}
			time.Sleep(2 * time.Millisecond)
		}
		t.Fatalf("set %s not live within %v", set, bound)
		return 0
	}
	var latencies []time.Duration
	swaps, invalid := 0, 0
	sequence := []map[string]string{policyfs.SetB, policyfs.SetC, policyfs.SetA, policyfs.SetC, policyfs.SetB, policyfs.SetA}
	for range 3 {
		for _, set := range sequence {
			swaps++
			before := metrics(t, r)
			swapped := time.Now()
			if err := v.Write(set); err != nil {
				t.Fatal(err)
			}
			if set["one.yaml"] == policyfs.SetC["one.yaml"] {
				invalid++
				for !strings.Contains(metrics(t, r), fmt.Sprintf(`hookguard_policy_reload_errors_total{trigger="watch"} %d`, invalid)) {
					if time.Since(swapped) > bound {
						t.Fatalf("invalid set not refused within %v; metrics before:\n%s", bound, before)
					}
					time.Sleep(10 * time.Millisecond)
				}
				continue
			}
			want := "a"
			if set["one.yaml"] == policyfs.SetB["one.yaml"] {
				want = "b"
			}
			latencies = append(latencies, live(want, swapped))
			time.Sleep(100 * time.Millisecond) // traffic on the new set
		}
	}
	close(stop)
	wg.Wait()

	// Match every answer with the revision its decision was logged with.
	wrong := 0
	decided := 0
	for _, l := range logs.lines() {
		id, _ := l["request_id"].(string)
		o, ok := answers[id]
		if !ok || l["message"] != "decision" {
			continue
		}
		decided++
		rev, _ := l["policy_revision"].(string)
		set, known := sets[rev]
		path, _ := l["path"].(string)
		var right bool
		switch {
		case !known:
			right = false // the invalid set, or a mix of two sets
		case path == "/three":
			right = !o.allowed && o.status == 404
		default:
			right = o.allowed && o.set == set && l["endpoint"] == path[1:]
		}
		if !right {
			if wrong < 5 {
				t.Errorf("request %s to %s: answer %+v under revision %q (set %q)", id, path, o, rev, set)
			}
			wrong++
		}
	}
	var worst, sum time.Duration
	for _, l := range latencies {
		worst, sum = max(worst, l), sum+l
	}
	t.Logf("RELOAD-UNDER-LOAD: %d requests, %d failed, %d wrong, %d swaps (%d invalid), reload latency mean %v worst %v",
		sent.Load(), failed.Load(), wrong, swaps, invalid,
		(sum / time.Duration(len(latencies))).Round(time.Millisecond), worst.Round(time.Millisecond))
	if failed.Load() != 0 {
		t.Errorf("%d failed requests, e.g. %v", failed.Load(), errs[:min(len(errs), 3)])
	}
	if decided != len(answers) {
		t.Errorf("%d answers but %d decision log lines", len(answers), decided)
	}
	if sent.Load() < 1000 {
		t.Errorf("only %d requests during the swaps", sent.Load())
	}
	m := metrics(t, r)
	if !strings.Contains(m, fmt.Sprintf(`hookguard_policy_reload_errors_total{trigger="watch"} %d`, invalid)) {
		t.Errorf("reload errors not counted once per invalid swap (a mixed read counts too):\n%s", grepLines(m, "hookguard_policy_"))
	}
}

func wantHealth(t *testing.T, r *running, service string, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	st, err := healthpb.NewHealthClient(r.conn).Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
	if err != nil || st.GetStatus() != want {
		t.Errorf("health of %s: %v %v, want %v", service, st.GetStatus(), err, want)
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestRefusedReloadIsVisible checks the admin status, the metrics and the
// log after an invalid set, and that the next good set clears it all.
func TestRefusedReloadIsVisible(t *testing.T) {
	dir := t.TempDir()
	for n, c := range policyfs.SetA {
		os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644)
	}
	logs := &syncBuffer{}
	r := startWith(t, Config{PolicyDir: dir, Secrets: reloadSecrets, Log: zerolog.New(logs), ReloadDebounce: 50 * time.Millisecond})
	revA := revisionOf(t, policyfs.SetA)
	waitRecheck(t, logs)
	if code, st := adminJSON(t, r, "/readyz"); code != 200 || !st.Ready || !st.PolicyOK || st.Policy.Revision != revA || st.Policy.Endpoints != 2 {
		t.Fatalf("readyz at start: %d %+v", code, st)
	}
	if m := metrics(t, r); !strings.Contains(m, fmt.Sprintf(`hookguard_policy_info{digest=%q,revision=%q} 1`, revA, revA)) ||
		!strings.Contains(m, "hookguard_policy_last_reload_success 1") {
		t.Fatalf("metrics at start:\n%s", grepLines(m, "hookguard_policy_"))
	}

	policyfs.WriteRename(filepath.Join(dir, "two.yaml"), policyfs.SetA["two.yaml"]+"    replay: {ttl: forever}\n")
	var st adminStatus
	deadline := time.Now().Add(2 * time.Second)
	for {
		var code int
		code, st = adminJSON(t, r, "/readyz")
		if code != 200 {
			t.Fatalf("readyz %d after a refused reload: last-known-good must stay ready", code)
		}
		if !st.PolicyOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	f := st.Policy.LastFailure
	if st.PolicyOK || f == nil || len(f.Errors) != 1 || st.Policy.Revision != revA {
		t.Fatalf("readyz after a refused reload: %+v", st)
	}
	if d := f.Errors[0]; filepath.Base(d.File) != "two.yaml" || d.Line != 6 || d.Endpoint != "two" || d.Field != "replay.ttl" {
		t.Errorf("refusal detail: %+v", d)
	}
	if _, s := adminJSON(t, r, "/status"); s.PolicyOK || s.Policy.LastFailure == nil {
		t.Errorf("/status: %+v", s)
	}
	m := metrics(t, r)
	for _, want := range []string{
		`hookguard_policy_reload_errors_total{trigger="watch"} 1`,
		"hookguard_policy_last_reload_success 0",
		fmt.Sprintf(`hookguard_policy_info{digest=%q,revision=%q} 1`, revA, revA),
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "hookguard_policy_"))
		}
	}
	var refused map[string]any
	for _, l := range logs.lines() {
		if strings.HasPrefix(fmt.Sprint(l["message"]), "policy refused") {
			refused = l
		}
	}
	if refused == nil || refused["level"] != "error" || refused["policy_revision"] != revA || refused["error_count"] != 1.0 ||
		!strings.Contains(fmt.Sprint(refused["errors"]), "replay.ttl") {
		t.Errorf("refusal log line: %v", refused)
	}
	if o, _ := checkToken(context.Background(), authv3.NewAuthorizationClient(r.conn), "/one", "x"); !o.allowed || o.set != "a" {
		t.Errorf("set A is not in force: %+v", o)
	}
	wantHealth(t, r, PolicyService, healthpb.HealthCheckResponse_NOT_SERVING)
	wantHealth(t, r, AuthorizationService, healthpb.HealthCheckResponse_SERVING)

	policyfs.WriteRename(filepath.Join(dir, "two.yaml"), policyfs.SetA["two.yaml"]+"# fixed\n")
	deadline = time.Now().Add(2 * time.Second)
	for _, st = adminJSON(t, r, "/readyz"); !st.PolicyOK && time.Now().Before(deadline); _, st = adminJSON(t, r, "/readyz") {
		time.Sleep(10 * time.Millisecond)
	}
	if !st.PolicyOK || st.Policy.LastFailure != nil || st.Policy.Revision == revA {
		t.Errorf("a good set did not clear the refusal: %+v", st)
	}
	wantHealth(t, r, PolicyService, healthpb.HealthCheckResponse_SERVING)
	m = metrics(t, r)
	if !strings.Contains(m, "hookguard_policy_last_reload_success 1") || strings.Contains(m, fmt.Sprintf("revision=%q", revA)) {
		t.Errorf("metrics after the fix:\n%s", grepLines(m, "hookguard_policy_"))
	}
}

// TestReloadOnSignal checks that with the watch off, a change is picked up
// on Reload (SIGHUP) and only then.
func TestReloadOnSignal(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "one.yaml"), []byte(policyfs.SetA["one.yaml"]), 0o644)
	hup := make(chan struct{})
	r := startWith(t, Config{PolicyDir: dir, Secrets: reloadSecrets, Log: zerolog.Nop(), DisableWatch: true, Reload: hup})
	c := authv3.NewAuthorizationClient(r.conn)
	os.WriteFile(filepath.Join(dir, "one.yaml"), []byte("endpoints:"+policyfs.TokenEndpoint("one", "hup")), 0o644)
	time.Sleep(400 * time.Millisecond)
	if o, _ := checkToken(context.Background(), c, "/one", "x"); o.set != "a" {
		t.Fatalf("reloaded without a signal and with the watch off: %+v", o)
	}
	hup <- struct{}{}
	deadline := time.Now().Add(2 * time.Second)
	for {
		o, _ := checkToken(context.Background(), c, "/one", "x")
		if o.set == "hup" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no reload on signal")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if m := metrics(t, r); !strings.Contains(m, `hookguard_policy_reloads_total{trigger="signal"} 1`) {
		t.Errorf("metrics:\n%s", grepLines(m, "hookguard_policy_"))
	}
}

// TestPolicyMetricsFromTheStart scrapes a fresh hookguard: every trigger's
// reload and error series is there at 0, and the check right after start
// is no reload.
func TestPolicyMetricsFromTheStart(t *testing.T) {
	dir, err := policyfs.WriteFiles(t.TempDir(), policyfs.SetA)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	r := startWith(t, Config{PolicyDir: dir, Secrets: reloadSecrets, Log: zerolog.New(logs), ReloadDebounce: 20 * time.Millisecond})
	waitRecheck(t, logs)
	m := metrics(t, r)
	for _, want := range []string{
		`hookguard_policy_reloads_total{trigger="start"} 1`,
		`hookguard_policy_reloads_total{trigger="watch"} 0`,
		`hookguard_policy_reloads_total{trigger="signal"} 0`,
		`hookguard_policy_reloads_total{trigger="recheck"} 0`,
		`hookguard_policy_reload_errors_total{trigger="start"} 0`,
		`hookguard_policy_reload_errors_total{trigger="watch"} 0`,
		`hookguard_policy_reload_errors_total{trigger="signal"} 0`,
		`hookguard_policy_reload_errors_total{trigger="recheck"} 0`,
		"hookguard_policy_last_reload_success 1",
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "hookguard_policy_"))
		}
	}
}

// TestPolicyMetricsObserve feeds load events to the metrics and scrapes the
// registry after each.
func TestPolicyMetricsObserve(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newPolicyMetrics(reg)
	res, err := policy.Load(mustWrite(t, policyfs.SetA), policy.Options{Secrets: reloadSecrets})
	if err != nil {
		t.Fatal(err)
	}
	refused := &reload.Failure{Trigger: reload.TriggerWatch}
	steps := []struct {
		event           reload.Event
		reloads, errors map[string]float64
	}{
		{reload.Event{Trigger: reload.TriggerStart, Result: res, Changed: true},
			map[string]float64{"start": 1}, nil},
		{reload.Event{Trigger: reload.TriggerRecheck, Result: res},
			map[string]float64{"start": 1}, nil},
		{reload.Event{Trigger: reload.TriggerWatch, Err: refused},
			map[string]float64{"start": 1}, map[string]float64{"watch": 1}},
		// A re-check that finds the same refused set is no new refusal;
		// one that finds other errors is.
		{reload.Event{Trigger: reload.TriggerRecheck, Err: refused, Repeated: true},
			map[string]float64{"start": 1}, map[string]float64{"watch": 1}},
		{reload.Event{Trigger: reload.TriggerRecheck, Err: refused},
			map[string]float64{"start": 1}, map[string]float64{"watch": 1, "recheck": 1}},
		{reload.Event{Trigger: reload.TriggerWatch, Result: res, Restored: true},
			map[string]float64{"start": 1, "watch": 1}, map[string]float64{"watch": 1, "recheck": 1}},
		{reload.Event{Trigger: reload.TriggerRecheck, Result: res, Changed: true},
			map[string]float64{"start": 1, "watch": 1, "recheck": 1}, map[string]float64{"watch": 1, "recheck": 1}},
	}
	for i, step := range steps {
		m.observe(step.event)
		got := scrape(t, reg)
		for _, trigger := range reload.Triggers() {
			if v, ok := got[`hookguard_policy_reloads_total{trigger="`+trigger+`"}`]; !ok || v != step.reloads[trigger] {
				t.Errorf("step %d: reloads{%s} = %v (present %v), want %v", i, trigger, v, ok, step.reloads[trigger])
			}
			if v, ok := got[`hookguard_policy_reload_errors_total{trigger="`+trigger+`"}`]; !ok || v != step.errors[trigger] {
				t.Errorf("step %d: errors{%s} = %v (present %v), want %v", i, trigger, v, ok, step.errors[trigger])
			}
		}
	}
}

// scrape gathers reg into "name{labels}" → value.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			name := f.GetName()
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.GetCounter() != nil:
				out[name] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[name] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func mustWrite(t *testing.T, files map[string]string) string {
	t.Helper()
	dir, err := policyfs.WriteFiles(t.TempDir(), files)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// waitRecheck waits for the load right after start, which logs at debug, so
// that a change the test makes next is seen by the watch.
func waitRecheck(t *testing.T, logs *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		for _, l := range logs.lines() {
			if l["trigger"] == reload.TriggerRecheck {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no recheck after start")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRevertLogsRestored reverts a refused change to the content in force:
// nothing changes, but the log says at info that the policy is good again,
// so the log does not end on the refusal.
func TestRevertLogsRestored(t *testing.T) {
	dir := mustWrite(t, policyfs.SetA)
	logs := &syncBuffer{}
	r := startWith(t, Config{PolicyDir: dir, Secrets: reloadSecrets, Log: zerolog.New(logs), ReloadDebounce: 20 * time.Millisecond})
	revA := revisionOf(t, policyfs.SetA)
	waitRecheck(t, logs)
	wait := func(what string, match func(map[string]any) bool) map[string]any {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for {
			for _, l := range logs.lines() {
				if match(l) {
					return l
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s in the log:\n%v", what, logs.lines())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	policyfs.WriteRename(filepath.Join(dir, "two.yaml"), policyfs.SetA["two.yaml"]+"    replay: {ttl: forever}\n")
	wait("refusal", func(l map[string]any) bool { return strings.HasPrefix(fmt.Sprint(l["message"]), "policy refused") })
	policyfs.WriteRename(filepath.Join(dir, "two.yaml"), policyfs.SetA["two.yaml"])
	l := wait("restore", func(l map[string]any) bool { return l["message"] == "policy restored" })
	if l["level"] != "info" || l["changed"] != false || l["policy_revision"] != revA || l["trigger"] != "watch" {
		t.Errorf("restore line %v", l)
	}
	if _, st := adminJSON(t, r, "/status"); !st.PolicyOK || st.Policy.Revision != revA {
		t.Errorf("status after the revert: %+v", st)
	}
	m := metrics(t, r)
	for _, want := range []string{
		`hookguard_policy_reloads_total{trigger="watch"} 1`,
		`hookguard_policy_reload_errors_total{trigger="watch"} 1`,
		"hookguard_policy_last_reload_success 1",
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "hookguard_policy_"))
		}
	}
}
