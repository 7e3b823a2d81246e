// Package monitoring checks the alert rules and the Grafana dashboard that
// ship in envoy/monitoring against a running hookguard: every file parses
// with Prometheus' own parsers, every metric and label they name is one
// hookguard exposes, and every alert behaves as its unit tests say.
package monitoring

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hookguard/hookguard/authz/daemon"
)

// dir is envoy/monitoring, from this package's directory.
var dir = filepath.Join("..", "..", "..", "envoy", "monitoring")

const (
	rulesFile     = "hookguard.rules.yaml"
	rulesTestFile = "hookguard.rules.test.yaml"
	dashboardFile = "hookguard.dashboard.json"
)

// prometheusMade are series Prometheus makes itself for every target; the
// rules may use them though hookguard does not expose them.
var prometheusMade = map[string]bool{"up": true}

var promql = parser.NewParser(parser.Options{})

// policy has an endpoint of every kind the metrics report on: replay
// protection and a per-source rate limit.
const policy = `endpoints:
  - name: github
    match: {path_prefix: /webhooks/github}
    verify:
      github:
        secrets: [{env: HOOKGUARD_MONITORING_TEST_SECRET}]
    replay: {ttl: 10m}
    rate_limit: {rate: 60/m, burst: 20, per: [source]}
`

const secret = "monitoring-test-secret"

// exposed runs hookguard, sends it an allowed and a denied check so that
// the decision series exist, and returns the metric families of its
// /metrics by name.
func exposed(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	t.Setenv("HOOKGUARD_MONITORING_TEST_SECRET", secret)
	pdir := t.TempDir()
	if err := os.WriteFile(filepath.Join(pdir, "policy.yaml"), []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan [2]string, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{
			PolicyDir: pdir, GRPCAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
			Log: zerolog.Nop(), LogOutput: io.Discard, DisableWatch: true,
			Ready: func(g, a net.Addr) { ready <- [2]string{g.String(), a.String()} },
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	var addrs [2]string
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("hookguard: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("hookguard did not start")
	}
	conn, err := grpc.NewClient(addrs[0], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := []byte(`{"zen":"monitoring"}`)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	for _, sig := range []string{"sha256=" + hex.EncodeToString(m.Sum(nil)), "sha256=00"} {
		_, err := authv3.NewAuthorizationClient(conn).Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
				SocketAddress: &corev3.SocketAddress{Address: "198.51.100.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 1}}}}},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: "POST", Path: "/webhooks/github", Host: "h",
				Headers: map[string]string{"x-hub-signature-256": sig}, RawBody: body,
			}},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Get("http://" + addrs[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return families
}

// seriesNames maps every name a query may select to the family it belongs
// to: a histogram's _bucket, _sum and _count, a summary's _sum and _count.
func seriesNames(families map[string]*dto.MetricFamily) map[string]*dto.MetricFamily {
	out := map[string]*dto.MetricFamily{}
	for name, f := range families {
		out[name] = f
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			out[name+"_bucket"], out[name+"_sum"], out[name+"_count"] = f, f, f
		case dto.MetricType_SUMMARY:
			out[name+"_sum"], out[name+"_count"] = f, f
		}
	}
	return out
}

// labelNames are the label names of a family's series.
func labelNames(f *dto.MetricFamily) map[string]bool {
	out := map[string]bool{}
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			out[l.GetName()] = true
		}
	}
	return out
}

// expressions are the PromQL of the rules and the dashboard, by where they
// come from.
func expressions(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	groups, errs := rulefmt.ParseFile(filepath.Join(dir, rulesFile), false, model.UTF8Validation, promql, promslog.NewNopLogger())
	if len(errs) > 0 {
		t.Fatalf("%s: %v", rulesFile, errs)
	}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			out[fmt.Sprintf("%s: %s%s", rulesFile, r.Alert, r.Record)] = r.Expr
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out[fmt.Sprintf("%s: %q %s", dashboardFile, p.Title, tg.RefID)] = grafanaVariables.Replace(tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	return out
}

type panel struct {
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

// grafanaVariables stand for what Grafana puts in their place.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$job", "hookguard")

func TestRulesAndDashboardUseExposedMetrics(t *testing.T) {
	names := seriesNames(exposed(t))
	exprs := expressions(t)
	if len(exprs) < 20 {
		t.Fatalf("only %d expressions found", len(exprs))
	}
	used := map[string]bool{}
	for where, e := range exprs {
		expr, err := promql.ParseExpr(e)
		if err != nil {
			t.Errorf("%s: %v\n%s", where, err, e)
			continue
		}
		parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
			vs, ok := node.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName {
					name = m.Value
				}
			}
			used[name] = true
			if prometheusMade[name] {
				return nil
			}
			f, ok := names[name]
			if !ok {
				t.Errorf("%s: metric %s is not one hookguard exposes", where, name)
				return nil
			}
			have := labelNames(f)
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName || m.Name == "job" || m.Name == "instance" {
					continue
				}
				if !have[m.Name] {
					t.Errorf("%s: %s has no label %s (it has %v)", where, name, m.Name, keys(have))
				}
			}
			return nil
		})
	}
	// The alerts cover what operators must see first.
	for _, want := range []string{"hookguard_decisions_total", "hookguard_policy_last_reload_success",
		"hookguard_replay_early_evictions_total", "hookguard_state_errors_total", "up"} {
		if !used[want] {
			t.Errorf("no rule or panel uses %s", want)
		}
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ruleTests is promtool's rule test file format, as far as these tests
// use it.
type ruleTests struct {
	RuleFiles          []string       `yaml:"rule_files"`
	EvaluationInterval model.Duration `yaml:"evaluation_interval"`
	Tests              []struct {
		Name        string         `yaml:"name"`
		Interval    model.Duration `yaml:"interval"`
		InputSeries []struct {
			Series string `yaml:"series"`
			Values string `yaml:"values"`
		} `yaml:"input_series"`
		AlertRuleTests []struct {
			EvalTime  model.Duration `yaml:"eval_time"`
			Alertname string         `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `yaml:"exp_labels"`
				ExpAnnotations map[string]string `yaml:"exp_annotations"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestAlertRules runs the rule unit tests as promtool does: the input
// series loaded, the rule groups evaluated at every evaluation interval,
// and the firing alerts compared at each eval_time.
func TestAlertRules(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(dir, rulesTestFile))
	if err != nil {
		t.Fatal(err)
	}
	var file ruleTests
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("%s: %v", rulesTestFile, err)
	}
	var ruleFiles []string
	for _, f := range file.RuleFiles {
		ruleFiles = append(ruleFiles, filepath.Join(dir, f))
	}
	tested := map[string]bool{}
	for _, tc := range file.Tests {
		t.Run(tc.Name, func(t *testing.T) {
			var load strings.Builder
			fmt.Fprintf(&load, "load %s\n", tc.Interval)
			for _, s := range tc.InputSeries {
				fmt.Fprintf(&load, "  %s %s\n", s.Series, s.Values)
			}
			suite, err := promqltest.NewLazyLoader(load.String(), promqltest.LazyLoaderOpts{
				EnableAtModifier: true, EnableNegativeOffset: true, StartTime: time.Unix(0, 0).UTC(), Parser: promql})
			if err != nil {
				t.Fatal(err)
			}
			defer suite.Close()
			m := rules.NewManager(&rules.ManagerOptions{
				QueryFunc:    rules.EngineQueryFunc(suite.QueryEngine(), suite.Storage()),
				AppendableV2: suite.Storage(),
				Context:      context.Background(),
				NotifyFunc:   func(context.Context, string, ...*rules.Alert) {},
				Logger:       promslog.NewNopLogger(),
				Parser:       promql,
			})
			interval := time.Duration(file.EvaluationInterval)
			groups, errs := m.LoadGroups(interval, labels.EmptyLabels(), "", nil, false, ruleFiles...)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			for _, g := range groups {
				for _, r := range g.Rules() {
					if ar, ok := r.(*rules.AlertingRule); ok {
						ar.SetRestored(true)
					}
				}
			}
			want := map[time.Duration]map[string][]string{}
			var last time.Duration
			for _, at := range tc.AlertRuleTests {
				tested[at.Alertname] = true
				d := time.Duration(at.EvalTime)
				last = max(last, d)
				if want[d] == nil {
					want[d] = map[string][]string{}
				}
				exp := []string{}
				for _, a := range at.ExpAlerts {
					l := map[string]string{labels.AlertName: at.Alertname}
					for k, v := range a.ExpLabels {
						l[k] = v
					}
					exp = append(exp, alertString(labels.FromMap(l), labels.FromMap(a.ExpAnnotations)))
				}
				slices.Sort(exp)
				want[d][at.Alertname] = exp
			}
			start := time.Unix(0, 0).UTC()
			for ts := start; !ts.After(start.Add(last)); ts = ts.Add(interval) {
				suite.WithSamplesTill(ts, func(err error) {
					if err != nil {
						t.Fatal(err)
					}
					for _, g := range groups {
						g.Eval(suite.Context(), ts)
						for _, r := range g.Rules() {
							if r.LastError() != nil {
								t.Fatalf("%s at %v: %v", r.Name(), ts.Sub(start), r.LastError())
							}
						}
					}
				})
				exp, ok := want[ts.Sub(start)]
				if !ok {
					continue
				}
				for name, wantAlerts := range exp {
					got := []string{}
					for _, g := range groups {
						for _, r := range g.Rules() {
							ar, ok := r.(*rules.AlertingRule)
							if !ok || ar.Name() != name {
								continue
							}
							for _, a := range ar.ActiveAlerts() {
								if a.State == rules.StateFiring {
									got = append(got, alertString(a.Labels, a.Annotations))
								}
							}
						}
					}
					slices.Sort(got)
					if !slices.Equal(got, wantAlerts) {
						t.Errorf("%s at %v:\ngot  %q\nwant %q", name, ts.Sub(start), got, wantAlerts)
					}
				}
			}
		})
	}
	// Every alert has a test.
	groups, _ := rulefmt.ParseFile(filepath.Join(dir, rulesFile), false, model.UTF8Validation, promql, promslog.NewNopLogger())
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" && !tested[r.Alert] {
				t.Errorf("alert %s has no unit test in %s", r.Alert, rulesTestFile)
			}
		}
	}
}

func alertString(l, a labels.Labels) string { return l.String() + " " + a.String() }

// The test finds envoy/monitoring from its own directory.
func init() {
	if _, file, _, ok := runtime.Caller(0); ok {
		dir = filepath.Join(filepath.Dir(file), "..", "..", "..", "envoy", "monitoring")
	}
}
