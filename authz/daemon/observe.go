package daemon

import (
	"context"
	"io"
	"net/http"
	"net/http/pprof"

	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/extauthz"
	"github.com/hookguard/hookguard/authz/internal/logbuf"
	"github.com/hookguard/hookguard/authz/internal/ratelimit"
)

// StateErrors counts the errors of the state a decision needs (the replay
// store, the rate limiter) by store and backend; each is a denial with
// reason unavailable. The memory backends never fail; the series exist
// from the start so that an alert's rate() sees the first error.
type stateErrors struct{ errs *prometheus.CounterVec }

func newStateErrors(reg prometheus.Registerer) *stateErrors {
	s := &stateErrors{errs: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookguard_state_errors_total",
		Help: "Errors of the state backends checks depend on, by store (replay, ratelimit) and backend (memory, redis); each one denied a request as unavailable.",
	}, []string{"store", "backend"})}
	reg.MustRegister(s.errs)
	return s
}

// nonces counts the errors of n, a replay store of the named backend.
func (s *stateErrors) nonces(n authz.NonceStore, backend string) authz.NonceStore {
	return countedNonces{n, s.errs.WithLabelValues("replay", backend)}
}

// limiter counts the errors of l, a limiter of the named backend.
func (s *stateErrors) limiter(l authz.Limiter, backend string) authz.Limiter {
	return countedLimiter{l, s.errs.WithLabelValues("ratelimit", backend)}
}

type countedNonces struct {
	authz.NonceStore
	errs prometheus.Counter
}

func (c countedNonces) Remember(ctx context.Context, n authz.Nonces) (bool, error) {
	fresh, err := c.NonceStore.Remember(ctx, n)
	if err != nil {
		c.errs.Inc()
	}
	return fresh, err
}

type countedLimiter struct {
	authz.Limiter
	errs prometheus.Counter
}

func (c countedLimiter) Take(ctx context.Context, key authz.LimitKey, limit authz.Limit, cost int, now time.Time) (authz.LimitResult, error) {
	res, err := c.Limiter.Take(ctx, key, limit, cost, now)
	if err != nil {
		c.errs.Inc()
	}
	return res, err
}

// rateLimitKeys reports the per-source buckets held for each endpoint of
// the policy in force that limits per source: endpoint names come from the
// policy, never from requests.
type rateLimitKeys struct {
	a    *authz.Authorizer
	l    *ratelimit.Memory
	desc *prometheus.Desc
}

func newRateLimitKeys(a *authz.Authorizer, l *ratelimit.Memory) *rateLimitKeys {
	return &rateLimitKeys{a: a, l: l, desc: prometheus.NewDesc("hookguard_ratelimit_keys",
		"Per-source rate-limit buckets held, by endpoint; at the endpoint's max_keys the least recently seen sources are forgotten.",
		[]string{"endpoint"}, nil)}
}

func (c *rateLimitKeys) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *rateLimitKeys) Collect(ch chan<- prometheus.Metric) {
	p := c.a.Policy()
	if p == nil {
		return
	}
	for _, e := range p.Endpoints() {
		if e.RateLimit != nil && e.RateLimit.PerSource {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(c.l.Keys(e.Name)), e.Name)
		}
	}
}

// registerLogMetrics exposes what the decision log's buffer dropped.
func registerLogMetrics(reg prometheus.Registerer, w *logbuf.Writer) {
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "hookguard_decision_log_dropped_total",
		Help: "Decision log lines dropped because the log's destination did not keep up; decisions never wait for the log.",
	}, func() float64 { return float64(w.Dropped()) }))
}

// grpcMetrics are the conventional gRPC server metrics (grpc_server_*, as
// go-grpc-middleware names them), for the services registered before
// resolve; the label values are method names of those services only.
type grpcMetrics struct {
	started *prometheus.CounterVec
	handled *prometheus.CounterVec
	seconds *prometheus.HistogramVec
	methods map[string]*methodMetrics
}

// methodMetrics are one method's series, resolved once so that a call
// costs no label look-up.
type methodMetrics struct {
	kind, service, method string
	started               prometheus.Counter
	ok                    prometheus.Counter
	seconds               prometheus.Observer
}

func newGRPCMetrics(reg prometheus.Registerer) *grpcMetrics {
	labels := []string{"grpc_type", "grpc_service", "grpc_method"}
	m := &grpcMetrics{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_started_total",
			Help: "RPCs started on the server.",
		}, labels),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_handled_total",
			Help: "RPCs completed on the server, by status code.",
		}, append(labels, "grpc_code")),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:                            "grpc_server_handling_seconds",
			Help:                            "Time the server took to handle an RPC, decoding and encoding excluded.",
			Buckets:                         []float64{5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 10e-3, 50e-3, 250e-3},
			NativeHistogramBucketFactor:     1.1,
			NativeHistogramMaxBucketNumber:  160,
			NativeHistogramMinResetDuration: time.Hour,
		}, labels),
		methods: map[string]*methodMetrics{},
	}
	reg.MustRegister(m.started, m.handled, m.seconds)
	return m
}

// resolve creates the series of every method registered on gs.
func (m *grpcMetrics) resolve(gs *grpc.Server) {
	for service, info := range gs.GetServiceInfo() {
		for _, mi := range info.Methods {
			kind := "unary"
			switch {
			case mi.IsClientStream && mi.IsServerStream:
				kind = "bidi_stream"
			case mi.IsClientStream:
				kind = "client_stream"
			case mi.IsServerStream:
				kind = "server_stream"
			}
			m.methods["/"+service+"/"+mi.Name] = &methodMetrics{
				kind: kind, service: service, method: mi.Name,
				started: m.started.WithLabelValues(kind, service, mi.Name),
				ok:      m.handled.WithLabelValues(kind, service, mi.Name, "OK"),
				seconds: m.seconds.WithLabelValues(kind, service, mi.Name),
			}
		}
	}
}

func (m *grpcMetrics) begin(fullMethod string) (*methodMetrics, time.Time) {
	mm := m.methods[fullMethod]
	if mm != nil {
		mm.started.Inc()
	}
	return mm, time.Now()
}

func (m *grpcMetrics) end(mm *methodMetrics, start time.Time, err error) {
	if mm == nil {
		return
	}
	mm.seconds.Observe(time.Since(start).Seconds())
	if err == nil {
		mm.ok.Inc()
		return
	}
	m.handled.WithLabelValues(mm.kind, mm.service, mm.method, status.Code(err).String()).Inc()
}

func (m *grpcMetrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	mm, start := m.begin(info.FullMethod)
	resp, err := handler(ctx, req)
	m.end(mm, start, err)
	return resp, err
}

func (m *grpcMetrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	mm, start := m.begin(info.FullMethod)
	err := handler(srv, ss)
	m.end(mm, start, err)
	return err
}

// registerPprof serves net/http/pprof under /debug/pprof/ on mux.
func registerPprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}

// DefaultDecisionLogBuffer is the default Config.DecisionLogBuffer.
const DefaultDecisionLogBuffer = logbuf.DefaultSize

// EachLine returns a writer that passes one line per Write to w, for a
// Config.LogOutput that takes a line at a time, such as
// zerolog.ConsoleWriter.
func EachLine(w io.Writer) io.Writer { return logbuf.EachLine(w) }

// observability is what Run sets up to be seen: the ext_authz server with
// its decision log, metrics and tracing, and the gRPC server metrics.
type observability struct {
	authorization *extauthz.Server
	grpc          *grpcMetrics
	decisionLog   *logbuf.Writer
	stopTracing   func(context.Context) error
	pprof         bool
}

func startObservability(ctx context.Context, cfg Config, a *authz.Authorizer, reg prometheus.Registerer) (*observability, error) {
	o := &observability{grpc: newGRPCMetrics(reg), pprof: cfg.Pprof}
	ec := extauthz.Config{Log: cfg.Log, Metrics: extauthz.NewMetrics(reg), AllowLogSkip: cfg.AllowLogSkip}
	if cfg.LogOutput != nil {
		o.decisionLog = logbuf.New(cfg.LogOutput, cfg.DecisionLogBuffer)
		ec.Log = cfg.Log.Output(o.decisionLog)
		registerLogMetrics(reg, o.decisionLog)
	}
	if cfg.OTLPEndpoint != "" {
		tracer, stop, err := startTracing(ctx, cfg.OTLPEndpoint, cfg.TraceSampleRatio, cfg.Version)
		if err != nil {
			return nil, err
		}
		ec.Tracer, o.stopTracing = tracer, stop
	}
	o.authorization = extauthz.NewServer(a, ec)
	return o, nil
}

// streamWorkers is the number of goroutines kept to handle checks: as
// many as the checks an Envoy or two keep in flight. Beyond them a check
// gets a goroutine of its own.
const streamWorkers = 64

// grpcOptions are the server options of the ext_authz wire path, its
// metrics, and stream workers: a set of goroutines that handle the checks
// keep the stacks they have grown, where a new goroutine per check grows a
// new stack every time (near a tenth of the CPU under load).
func (o *observability) grpcOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ForceServerCodecV2(extauthz.Codec()),
		grpc.NumStreamWorkers(streamWorkers),
		grpc.ChainUnaryInterceptor(o.grpc.unary),
		grpc.ChainStreamInterceptor(o.grpc.stream),
	}
}

// admin adds pprof to the admin endpoints when asked for.
func (o *observability) admin(mux *http.ServeMux) *http.ServeMux {
	if o.pprof {
		registerPprof(mux)
	}
	return mux
}

// stop flushes the decision log and the spans not yet exported, each
// within a second.
func (o *observability) stop() {
	if o.decisionLog != nil {
		o.decisionLog.Close(time.Second)
	}
	if o.stopTracing != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		o.stopTracing(ctx)
	}
}
