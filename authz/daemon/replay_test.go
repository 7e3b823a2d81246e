package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// A full replay share shows: the early evictions are counted per endpoint
// in the metrics, with the share's size and fill, and logged once a minute
// at most.
func TestReplayEarlyEvictionsExported(t *testing.T) {
	t.Setenv("HOOKGUARD_SERVER_TEST_SECRET", "s3cret")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "github.yaml"), []byte(policyYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	r := startWith(t, Config{PolicyDir: dir, NonceCapacity: 3, Log: zerolog.New(&logs)})
	for i := range 5 {
		if resp := check(t, r.conn, []byte(fmt.Sprint(i))); resp.GetOkResponse() == nil {
			t.Fatalf("delivery %d denied: %v", i, resp)
		}
	}
	m := metrics(t, r)
	for _, want := range []string{
		`hookguard_replay_early_evictions_total{endpoint="github"} 2`,
		`hookguard_replay_share_capacity{endpoint="github"} 3`,
		`hookguard_replay_share_entries{endpoint="github"} 3`,
		`hookguard_replay_cache_entries 3`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "hookguard_replay_"))
		}
	}
	var warned []map[string]any
	for _, l := range logs.lines() {
		if strings.HasPrefix(fmt.Sprint(l["message"]), "replay share full") {
			warned = append(warned, l)
		}
	}
	if len(warned) != 1 || warned[0]["endpoint"] != "github" || warned[0]["evicted_early_total"] != 1.0 || warned[0]["level"] != "warn" {
		t.Fatalf("early eviction log lines %v, want one for github's first", warned)
	}
	r.stop(t)
}
