package daemon

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestBuildInfoMetric(t *testing.T) {
	t.Setenv("HOOKGUARD_SERVER_TEST_SECRET", "s3cret")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "github.yaml"), []byte(policyYAML), 0o600)
	r := startWith(t, Config{PolicyDir: dir, Log: zerolog.Nop(), Version: "v1.2.3-4-gabcdef0", Revision: "abcdef0123"})
	resp, err := http.Get("http://" + r.adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := `hookguard_build_info{goversion="` + runtime.Version() + `",revision="abcdef0123",version="v1.2.3-4-gabcdef0"} 1`
	if !strings.Contains(string(b), want) {
		t.Errorf("/metrics lacks %s", want)
	}
	r.stop(t)
}
