package e2e

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
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookguard/hookguard/e2e/stack"
)

// redisPolicy is served by the replicas that share Redis: a replay-protected
// GitHub endpoint (named by Envoy's route), an endpoint limited to
// redisRate deliveries a second across the fleet, and one that falls back
// to local state while Redis is down.
var redisPolicy = `endpoints:
  - name: github
    match: {path_prefix: /webhooks/github}
    verify:
      github:
        secrets: [{env: GITHUB_WEBHOOK_SECRET}]
    replay: {ttl: 1h}
  - name: limited
    match: {path_prefix: /webhooks/limited}
    verify:
      github:
        secrets: [{env: GITHUB_WEBHOOK_SECRET}]
    replay: {disabled: true}
    rate_limit: {rate: ` + strconv.Itoa(redisRate) + `/s, burst: ` + strconv.Itoa(redisRate) + `, per: [endpoint]}
  - name: lenient
    match: {path_prefix: /webhooks/lenient}
    verify:
      github:
        secrets: [{env: GITHUB_WEBHOOK_SECRET}]
    replay: {ttl: 1h}
    state_fallback: local
`

// redisRate is the limited endpoint's rate and burst.
const redisRate = 20

// replicaStack is two hookguard replicas sharing one real redis-server,
// behind one Envoy whose hookguard cluster balances them round robin.
type replicaStack struct {
	redis    *stack.Redis
	replicas [2]*stack.Hookguard
	upstream *stack.Upstream
	envoy    *stack.Envoy
	client   *http.Client
}

func startReplicaStack(t *testing.T) *replicaStack {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	bin := hookguardBinary(t)
	s := &replicaStack{}
	t.Cleanup(func() {
		if t.Failed() {
			for _, h := range s.replicas {
				if h != nil {
					t.Logf("--- %s (tail) ---\n%s", h.LogPath, tailOf(h.LogPath, 3000))
				}
			}
		}
		if s.envoy != nil {
			s.envoy.Stop()
		}
		for _, h := range s.replicas {
			if h != nil {
				h.Stop()
			}
		}
		if s.upstream != nil {
			s.upstream.Close()
		}
		s.redis.Stop()
	})
	var err error
	if s.redis, err = stack.StartRedis(ctx, filepath.Join(dir, "redis")); err != nil {
		t.Fatal(err)
	}
	policies := filepath.Join(dir, "policies")
	if err := os.MkdirAll(policies, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(policies, "redis.yaml"), []byte(redisPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range s.replicas {
		s.replicas[i], err = stack.StartHookguard(ctx, filepath.Join(dir, fmt.Sprintf("replica%d", i)), stack.HookguardConfig{
			Binary: bin, PoliciesDir: policies, Env: secretEnv(),
			ExtraArgs: []string{"--state", s.redis.URL(), "--state-prefix", "e2e:"},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if s.upstream, err = stack.StartUpstream(0); err != nil {
		t.Fatal(err)
	}
	certs, err := stack.GenerateCerts(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ports [3]int
	for i := range ports {
		if ports[i], err = stack.FreePort(); err != nil {
			t.Fatal(err)
		}
	}
	s.envoy, err = stack.StartEnvoy(ctx, filepath.Join(dir, "envoy"), stack.EnvoyConfig{
		ListenPort: ports[0], MTLSPort: ports[1], AdminPort: ports[2], ClientCAFile: certs.CA.CertFile,
		AuthzAddr: "127.0.0.1", AuthzPort: s.replicas[0].Config.GRPCPort, MoreAuthzPorts: []int{s.replicas[1].Config.GRPCPort},
		UpstreamPort: s.upstream.Port(), CertFile: certs.Server.CertFile, KeyFile: certs.Server.KeyFile,
		MaxRequestBytes: testMaxRequestBytes,
	}, stack.EnvoyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range s.replicas {
		if err := s.envoy.WaitHostHealth(ctx, h.GRPCAddr(), true, 15*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	s.client = stack.NewClient(certs.ClientTLSConfig(), ports[0], true)
	t.Cleanup(s.client.CloseIdleConnections)
	return s
}

func tailOf(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// outcome is one delivery's answer as the sender saw it.
type outcome struct {
	status int
	reason string // hookguard's error code for a denial, "ok" for a 200
	err    error
	start  time.Time
}

// deliver sends a GitHub-signed body to path; it is safe to call from
// several goroutines (it never calls t.Fatal).
func (s *replicaStack) deliver(path string, body []byte) outcome {
	o := outcome{start: time.Now()}
	req, err := http.NewRequest(http.MethodPost, s.envoy.URL(path), bytes.NewReader(body))
	if err != nil {
		o.err = err
		return o
	}
	req.Header = githubHeaders(githubSecret, body, newUUID())
	resp, err := s.client.Do(req)
	if err != nil {
		o.err = err
		return o
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	o.status = resp.StatusCode
	if o.status == http.StatusOK {
		o.reason = "ok"
		return o
	}
	var e errorBody
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		o.reason = e.Error
	} else {
		o.reason = "upstream " + strconv.Itoa(o.status)
	}
	return o
}

// decisions returns, per replica, the decision log lines so far.
func (s *replicaStack) decisions(t *testing.T) [2][]map[string]any {
	t.Helper()
	var out [2][]map[string]any
	for i, h := range s.replicas {
		d, err := h.Decisions()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = d
	}
	return out
}

// metric sums a metric's samples over both replicas, from /metrics; labels,
// if not empty, must appear in the sample's label set (e.g.
// `result="forgotten"`).
func (s *replicaStack) metric(t *testing.T, name, labels string) float64 {
	t.Helper()
	var sum float64
	for _, h := range s.replicas {
		resp, err := http.Get(h.AdminURL() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") || !strings.Contains(line, labels) {
				continue
			}
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
		resp.Body.Close()
	}
	return sum
}

func TestRedisSharedState(t *testing.T) {
	s := startReplicaStack(t)

	// A delivery replayed to the other replica is refused: the replicas
	// share one nonce store.
	t.Run("ReplayToTheOtherReplica", func(t *testing.T) {
		body := []byte(`{"zen":"shared","n":` + strconv.Itoa(int(time.Now().UnixNano()%1e9)) + `}`)
		if o := s.deliver("/webhooks/github", body); o.err != nil || o.status != 200 {
			t.Fatalf("first delivery: %+v", o)
		}
		for i := 0; i < 4; i++ {
			if o := s.deliver("/webhooks/github", body); o.err != nil || o.status != 409 || o.reason != "replayed" {
				t.Fatalf("copy %d: %+v, want 409 replayed", i+1, o)
			}
		}
		// Round robin sent the copies to both replicas: the one that did
		// not allow the delivery refused it too. Decision lines are
		// written in batches, a few milliseconds after the answer.
		var allowedBy, replayedBy [2]int
		eventually(5*time.Second, func() bool {
			allowedBy, replayedBy = [2]int{}, [2]int{}
			for i, ds := range s.decisions(t) {
				for _, d := range ds {
					if d["endpoint"] != "github" {
						continue
					}
					switch d["reason"] {
					case "ok":
						allowedBy[i]++
					case "replayed":
						replayedBy[i]++
					}
				}
			}
			return allowedBy[0]+allowedBy[1]+replayedBy[0]+replayedBy[1] >= 5
		})
		if allowedBy[0]+allowedBy[1] != 1 || replayedBy[0] == 0 || replayedBy[1] == 0 {
			t.Fatalf("allowed by replica %v, replayed by replica %v: want one allow and replays refused by both replicas", allowedBy, replayedBy)
		}
		t.Logf("1 delivery allowed, 4 copies refused as replayed: %d by the replica that allowed it, %d by the other",
			replayedBy[0]*allowedBy[0]+replayedBy[1]*allowedBy[1], replayedBy[0]*allowedBy[1]+replayedBy[1]*allowedBy[0])
	})

	// A rate of N/s (burst N) admits N across both replicas, plus what
	// refills while the burst is sent (N per second of it), not 2N.
	t.Run("RateLimitAcrossReplicas", func(t *testing.T) {
		const sent = 3 * redisRate
		before := len(s.upstream.Requests())
		var mu sync.Mutex
		counts := map[string]int{}
		start := time.Now()
		var wg sync.WaitGroup
		next := make(chan int, sent)
		for i := 0; i < sent; i++ {
			next <- i
		}
		close(next)
		for g := 0; g < 6; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					o := s.deliver("/webhooks/limited", []byte(`{"n":`+strconv.Itoa(i)+`}`))
					mu.Lock()
					if o.err != nil {
						counts["error"]++
					} else {
						counts[o.reason]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		admitted := len(s.upstream.Requests()) - before
		refill := int(float64(redisRate)*elapsed.Seconds()) + 1
		t.Logf("rate %d/s burst %d, %d deliveries in %v over 2 replicas: %v; upstream got %d (bound %d + %d refilled; per-replica state would admit up to %d)",
			redisRate, redisRate, sent, elapsed.Round(time.Millisecond), counts, admitted, redisRate, refill, 2*redisRate+2*refill-2)
		if counts["ok"] != admitted || counts["ok"]+counts["rate_limited"] != sent {
			t.Fatalf("answers %v, upstream %d: every delivery is either admitted (and reaches the upstream) or rate_limited", counts, admitted)
		}
		if admitted < redisRate || admitted > redisRate+refill {
			t.Fatalf("admitted %d, want between %d and %d", admitted, redisRate, redisRate+refill)
		}
		if 2*redisRate <= redisRate+refill {
			t.Fatalf("the burst took %v: too slow to tell a shared limit from per-replica ones", elapsed)
		}
	})

	// The upstream fails the first attempt (503); Envoy's access log tells
	// hookguard, which forgets the delivery; the provider's retry (same
	// body, same signature) is accepted and reaches the upstream, and a
	// third copy after its 200 is refused.
	t.Run("RetryAwareReplay", func(t *testing.T) {
		body := []byte(`{"retry":"` + randomHex(8) + `"}`)
		headers := githubHeaders(githubSecret, body, newUUID())
		sendSame := func() response {
			return send(t, s.client, http.MethodPost, s.envoy.URL("/webhooks/github"), headers, body)
		}
		forgotten := s.metric(t, "hookguard_access_log_entries_total", `result="forgotten"`)
		before := len(s.upstream.Requests())
		s.upstream.FailNext(1, http.StatusServiceUnavailable)
		if r := sendSame(); r.Status != http.StatusServiceUnavailable {
			t.Fatalf("first attempt: %s, want the upstream's 503", r)
		}
		if !eventually(5*time.Second, func() bool {
			return s.metric(t, "hookguard_access_log_entries_total", `result="forgotten"`) > forgotten
		}) {
			t.Fatalf("no access log entry forgot the delivery within 5s")
		}
		if r := sendSame(); r.Status != http.StatusOK {
			t.Fatalf("the provider's retry: %s, want 200", r)
		}
		if r := sendSame(); r.Status != http.StatusConflict {
			t.Fatalf("third copy after the 200: %s, want 409 replayed", r)
		}
		reqs := s.upstream.Requests()[before:]
		if len(reqs) != 2 || !bytes.Equal(reqs[0].Body, body) || !bytes.Equal(reqs[1].Body, body) {
			t.Fatalf("upstream got %d requests, want the first attempt and the retry", len(reqs))
		}
		// The retry's 200 is not sent to hookguard at all (Envoy's filter),
		// so nothing was kept or forgotten for it.
		time.Sleep(300 * time.Millisecond)
		if n := s.metric(t, "hookguard_access_log_entries_total", `result="forgotten"`); n != forgotten+1 {
			t.Fatalf("%v forgets, want %v", n, forgotten+1)
		}
	})
}

// TestRedisOutage stops Redis in the middle of a stream of deliveries and
// starts it again: every decision during the outage is 503 unavailable (or
// decided on local state for the state_fallback: local endpoint), none is
// allowed by mistake; after the restart decisions recover without
// restarting hookguard. The counts go to the test log.
func TestRedisOutage(t *testing.T) {
	s := startReplicaStack(t)
	ctx := context.Background()
	n := 0
	fresh := func(path string) outcome {
		n++
		return s.deliver(path, []byte(`{"outage":`+strconv.Itoa(n)+`,"run":"`+randomHex(4)+`"}`))
	}
	// A delivery accepted before the outage, replayed during it.
	early := []byte(`{"early":"` + randomHex(8) + `"}`)
	if o := s.deliver("/webhooks/github", early); o.status != 200 {
		t.Fatalf("before the outage: %+v", o)
	}
	for i := 0; i < 5; i++ {
		if o := fresh("/webhooks/github"); o.status != 200 {
			t.Fatalf("before the outage: %+v", o)
		}
	}

	if err := s.redis.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	strict, lenient, replays := map[string]int{}, map[string]int{}, map[string]int{}
	for time.Since(stopped) < 3*time.Second {
		for _, c := range []struct {
			path   string
			counts map[string]int
			o      func() outcome
		}{
			{"/webhooks/github", strict, func() outcome { return fresh("/webhooks/github") }},
			{"/webhooks/github", replays, func() outcome { return s.deliver("/webhooks/github", early) }},
			{"/webhooks/lenient", lenient, func() outcome { return fresh("/webhooks/lenient") }},
		} {
			o := c.o()
			key := o.reason
			if o.err != nil {
				key = "error: " + o.err.Error()
			} else {
				key = strconv.Itoa(o.status) + " " + key
			}
			c.counts[key]++
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.redis.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Each replica redials on its own: decisions have recovered once ten
	// in a row, round robin over both replicas, are allowed.
	restarted := time.Now()
	var recovered time.Duration
	after := map[string]int{}
	streak, streakStart := 0, time.Duration(0)
	for streak < 10 {
		o := fresh("/webhooks/github")
		after[strconv.Itoa(o.status)+" "+o.reason]++
		if o.status != 200 {
			streak = 0
		} else {
			if streak == 0 {
				streakStart = time.Since(restarted)
			}
			streak++
		}
		if time.Since(restarted) > 10*time.Second {
			t.Fatalf("decisions not recovered 10s after Redis restarted: %v", after)
		}
		time.Sleep(20 * time.Millisecond)
	}
	recovered = streakStart
	fallbacks := s.metric(t, "hookguard_state_fallback_total", `endpoint="lenient"`)
	errorsTotal := s.metric(t, "hookguard_state_backend_errors_total", "")
	t.Logf("during the 3s outage, by answer: github fresh %v; github replay of a pre-outage delivery %v; lenient (state_fallback: local) %v; "+
		"%v fallback decisions counted, %v backend errors counted. After restart: %v; every replica allowing again (10 in a row) after %v",
		strict, replays, lenient, fallbacks, errorsTotal, after, recovered.Round(time.Millisecond))

	for _, m := range []map[string]int{strict, replays} {
		for k, v := range m {
			if k != "503 unavailable" {
				t.Errorf("%d answers %q during the outage; every one must be 503 unavailable", v, k)
			}
		}
	}
	for k, v := range lenient {
		if k != "200 ok" {
			t.Errorf("lenient endpoint: %d answers %q during the outage, want 200 from local state", v, k)
		}
	}
	if strict["503 unavailable"] == 0 || lenient["200 ok"] == 0 || fallbacks < float64(lenient["200 ok"]) {
		t.Errorf("outage not exercised: strict %v, lenient %v, %v fallbacks", strict, lenient, fallbacks)
	}
	if recovered > 5*time.Second {
		t.Errorf("recovered %v after Redis restarted, want within 5s", recovered)
	}
	// Health stayed SERVING throughout: Envoy never took a replica out.
	for _, h := range s.replicas {
		if ok, err := s.envoy.ClusterHostHealthy("hookguard", h.GRPCAddr()); err != nil || !ok {
			t.Errorf("replica %s unhealthy in Envoy after the outage: %v", h.GRPCAddr(), err)
		}
	}
	// One log line opened the outage on each replica and one closed it.
	for _, h := range s.replicas {
		log, _ := h.Log()
		if strings.Count(log, "state backend unavailable") != 1 || strings.Count(log, "state backend recovered") != 1 {
			t.Errorf("%s: want one outage line and one recovery line:\n%s", h.LogPath, tailOf(h.LogPath, 2000))
		}
	}
}
