package state

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/hookguard/hookguard/e2e/stack"
)

func TestParseRedisURL(t *testing.T) {
	for _, tc := range []struct {
		url, kind string
		addrs     []string
		master    string
		tls       bool
		password  string
		db        int
	}{
		{"redis://127.0.0.1:6379", "redis", []string{"127.0.0.1:6379"}, "", false, "", 0},
		{"redis://:pw@redis.example:6380/2", "redis", []string{"redis.example:6380"}, "", false, "pw", 2},
		{"rediss://redis.example", "redis", []string{"redis.example:6379"}, "", true, "", 0},
		{"redis+sentinel://s1:26379?master_name=main&addr=s2:26379&password=pw", "sentinel", []string{"s1:26379", "s2:26379"}, "main", false, "pw", 0},
		{"rediss+sentinel://s1:26379/1?master_name=main", "sentinel", []string{"s1:26379"}, "main", true, "", 1},
		{"redis+cluster://c1:7000?addr=c2:7000&addr=c3:7000", "cluster", []string{"c1:7000", "c2:7000", "c3:7000"}, "", false, "", 0},
		{"rediss+cluster://:pw@c1:7000", "cluster", []string{"c1:7000"}, "", true, "pw", 0},
	} {
		o, kind, err := ParseRedisURL(tc.url)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if kind != tc.kind || strings.Join(o.Addrs, ",") != strings.Join(tc.addrs, ",") || o.MasterName != tc.master ||
			(o.TLSConfig != nil) != tc.tls || o.Password != tc.password || o.DB != tc.db {
			t.Errorf("%s: kind %s addrs %v master %q tls %v password %q db %d", tc.url, kind, o.Addrs, o.MasterName, o.TLSConfig != nil, o.Password, o.DB)
		}
		if tc.kind == "cluster" && !o.IsClusterMode {
			t.Errorf("%s: not in cluster mode", tc.url)
		}
	}
	for _, bad := range []string{
		"memory", "http://x:6379", "redis+sentinel://s1:26379", "redis+ring://x", "redis://x/notadb", "redis://x?unknown_option=1",
	} {
		if _, _, err := ParseRedisURL(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func TestOpenRedisRefusesBadSettings(t *testing.T) {
	for _, c := range []RedisConfig{
		{URL: "redis://x", Prefix: "a{b}"},
		{URL: "redis://x", Prefix: "has space"},
		{URL: "redis://x", Prefix: strings.Repeat("p", 65)},
		{URL: "redis://x", Timeout: -time.Second},
		{URL: "mysql://x"},
	} {
		if r, err := OpenRedis(c); err == nil {
			r.Close()
			t.Errorf("%+v: accepted", c)
		}
	}
}

// Keys have one fixed size whatever the endpoint, carry the prefix, and put
// an endpoint's keys in one Cluster hash slot.
func TestKeyLayout(t *testing.T) {
	r, err := OpenRedis(RedisConfig{URL: "redis://127.0.0.1:1", Prefix: "hg:"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d1, d2 := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))
	short := r.Key('n', EndpointTag("x"), &d1)
	long := r.Key('n', EndpointTag(strings.Repeat("long-endpoint-name", 10)), &d1)
	if len(short) != len(long) || len(short) != len("hg:")+1+2+len(Tag{})+sha256.Size {
		t.Fatalf("key sizes %d and %d", len(short), len(long))
	}
	if !strings.HasPrefix(short, "hg:n{") {
		t.Fatalf("key %q lacks the prefix and tag", short)
	}
	a, b := r.Key('n', EndpointTag("github"), &d1), r.Key('l', EndpointTag("github"), &d2)
	tag := func(k string) string { return k[strings.IndexByte(k, '{')+1 : strings.IndexByte(k, '}')] }
	if tag(a) != tag(b) || tag(a) == tag(short) {
		t.Fatalf("tags %q %q %q: want one per endpoint", tag(a), tag(b), tag(short))
	}
}

// Health logs an outage once when it starts and once when it ends, keeps
// the up gauge, and counts every failed operation.
func TestHealthFollowsAnOutage(t *testing.T) {
	srv, err := stack.StartRedis(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	h := NewHealth("redis", zerolog.New(&logs), reg)
	r, err := OpenRedis(RedisConfig{URL: srv.URL(), Health: h})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	if err := r.Ping(ctx); err != nil || !h.Up() {
		t.Fatalf("ping: %v, up %v", err, h.Up())
	}
	srv.Stop()
	for i := 0; i < 5; i++ {
		if err := r.Ping(ctx); err == nil {
			t.Fatal("ping answered with Redis stopped")
		}
	}
	if h.Up() || testutil.ToFloat64(h.up) != 0 {
		t.Fatal("up while Redis is stopped")
	}
	if n := testutil.ToFloat64(h.errors.WithLabelValues("redis", "ping")); n != 5 {
		t.Fatalf("%v ping errors counted, want 5", n)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("not reconnected 5s after Redis came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !h.Up() || testutil.ToFloat64(h.up) != 1 {
		t.Fatal("not up after reconnecting")
	}
	var msgs []string
	var failed float64
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		msgs = append(msgs, m["message"].(string))
		if n, ok := m["failed_operations"].(float64); ok {
			failed = n
		}
	}
	want := []string{"state backend connected", "state backend unavailable", "state backend recovered"}
	if len(msgs) != 3 || msgs[0] != want[0] || !strings.HasPrefix(msgs[1], want[1]) || msgs[2] != want[2] {
		t.Fatalf("log messages %q, want %q (one line per transition)", msgs, want)
	}
	// The five pings, and those of the reconnect loop before Redis
	// answered again.
	if failed < 5 {
		t.Fatalf("recovery line counts %v failed operations, want at least 5:\n%s", failed, logs.String())
	}
}
