package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/hookguard/hookguard/authz"
)

// replayEndpoint is a policy endpoint with the given replay block (YAML flow
// mapping contents), a GitHub scheme (no timestamp: 24h TTL by default)
// unless ttl is set.
func replayEndpoint(name, replay string) string {
	return "  - name: " + name + "\n    match: {path: /" + name + "}\n    verify: {github: {secrets: [{env: GITHUB_SECRET}]}}\n    replay: {" + replay + "}\n"
}

func TestReplayShares(t *testing.T) {
	cases := []struct {
		name     string
		capacity int // Options.NonceCapacity
		policy   string
		want     map[string]int // endpoint → ReplayCapacity
	}{
		{"one endpoint takes the whole store", 0, replayEndpoint("a", ""),
			map[string]int{"a": DefaultNonceCapacity}},
		{"default shares split evenly at equal TTLs", 1000, replayEndpoint("a", "") + replayEndpoint("b", "") + replayEndpoint("c", ""),
			map[string]int{"a": 333, "b": 333, "c": 333}},
		// 24h against 10m: each default share sustains the same rate.
		{"default shares follow the TTL", 1_000_000, replayEndpoint("day", "") + replayEndpoint("short", "ttl: 10m"),
			map[string]int{"day": 993_103, "short": 6_896}},
		{"explicit shares first, the rest split", 1_000_000, replayEndpoint("a", "capacity: 400000") + replayEndpoint("b", "") + replayEndpoint("c", ""),
			map[string]int{"a": 400_000, "b": 300_000, "c": 300_000}},
		{"explicit shares may fill the store", 1000, replayEndpoint("a", "capacity: 600") + replayEndpoint("b", "capacity: 400"),
			map[string]int{"a": 600, "b": 400}},
		{"no share without replay protection", 1000, replayEndpoint("a", "") + replayEndpoint("quiet", "disabled: true") +
			"  - name: tok\n    match: {path: /tok}\n    verify: {token: {header: x-t, secrets: [{env: GITHUB_SECRET}]}}\n",
			map[string]int{"a": 1000, "quiet": 0, "tok": 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Load(writeDir(t, map[string]string{"p.yaml": "endpoints:\n" + c.policy}), Options{Secrets: testSecrets, NonceCapacity: c.capacity})
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range c.want {
				if got := res.Policy.Endpoint(name).ReplayCapacity; got != want {
					t.Errorf("%s: capacity %d, want %d", name, got, want)
				}
			}
		})
	}
}

func TestReplaySharesOverCapacity(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"a.yaml": "endpoints:\n" + replayEndpoint("small", "capacity: 300") + replayEndpoint("big", "capacity: 800"),
		"b.yaml": "endpoints:\n" + replayEndpoint("rest", ""),
	})
	_, err := Load(dir, Options{Secrets: testSecrets, NonceCapacity: 1000})
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 {
		t.Fatalf("err = %v, want one diagnostic", err)
	}
	d := errs[0]
	if d.Endpoint != "big" || d.Field != "replay.capacity" || d.Line != 9 || !strings.HasSuffix(d.File, "a.yaml") ||
		!strings.Contains(d.Message, "add up to 1100, more than the replay store's capacity of 1000") ||
		!strings.Contains(d.Message, "big 800, small 300") {
		t.Fatalf("diagnostic %+v", d)
	}

	// Room for the explicit shares, none left for the default one.
	_, err = Load(dir, Options{Secrets: testSecrets, NonceCapacity: 1100})
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Endpoint != "rest" || errs[0].Field != "replay.capacity" ||
		!strings.Contains(errs[0].Message, "no room left for this endpoint's replay share") {
		t.Fatalf("err = %v, want no room for rest", err)
	}
	if res, err := Load(dir, Options{Secrets: testSecrets, NonceCapacity: 1101}); err != nil || res.Policy.Endpoint("rest").ReplayCapacity != 1 {
		t.Fatalf("with room for one: %v", err)
	}
}

func TestReplayOnFull(t *testing.T) {
	for spelling, want := range map[string]authz.OnFull{
		"":                         authz.EvictOldest,
		"on_full: evict_oldest":    authz.EvictOldest,
		"on_full: EVICT-OLDEST":    authz.EvictOldest,
		"on_full: reject":          authz.RejectWhenFull,
		"on_full: Reject, ttl: 1h": authz.RejectWhenFull,
	} {
		res, err := Load(writeDir(t, map[string]string{"p.yaml": "endpoints:\n" + replayEndpoint("a", spelling)}), Options{Secrets: testSecrets})
		if err != nil {
			t.Fatalf("%q: %v", spelling, err)
		}
		if got := res.Policy.Endpoint("a").ReplayOnFull; got != want {
			t.Errorf("%q: on_full %v, want %v", spelling, got, want)
		}
	}
	_, err := Load(writeDir(t, map[string]string{"p.yaml": "endpoints:\n" + replayEndpoint("a", "disabled: true, capacity: 10, on_full: reject")}), Options{Secrets: testSecrets})
	if err == nil || !strings.Contains(err.Error(), `replay.capacity: set with replay.disabled`) || !strings.Contains(err.Error(), `replay.on_full: set with replay.disabled`) {
		t.Fatalf("capacity and on_full with replay disabled: %v", err)
	}
	_, err = Load(writeDir(t, map[string]string{"p.yaml": "endpoints:\n" + replayEndpoint("a", "on_full: drop")}), Options{Secrets: testSecrets})
	if err == nil || !strings.Contains(err.Error(), "replay.on_full") {
		t.Fatalf("unknown on_full: %v", err)
	}
}
