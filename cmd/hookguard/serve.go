package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookguard/hookguard/authz/daemon"
)

func serve(args []string, stdout, stderr io.Writer) int {
	fs := newSubcommand("serve", "--policies DIR [flags]",
		"Serve Envoy ext_authz checks (gRPC) for the policy directory DIR, and the admin\nendpoints (/healthz, /readyz, /status, /metrics). The policy reloads when its\nfiles change and on SIGHUP; SIGTERM drains in-flight checks and stops.",
		stdout, stderr)
	b := currentBuild()
	cfg := daemon.Config{Version: b.Version, Revision: b.Revision}
	fs.StringVar(&cfg.PolicyDir, "policies", "", "policy directory (required)")
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", daemon.DefaultGRPCAddr, "ext_authz gRPC listen address, host:port or unix:///path/to.sock")
	fs.StringVar(&cfg.AdminAddr, "admin-addr", daemon.DefaultAdminAddr, "admin HTTP listen address (/healthz, /readyz, /status, /metrics)")
	finishLink := linkFlags(fs.FlagSet, &cfg)
	fs.IntVar(&cfg.MaxRecvBytes, "max-body-bytes", daemon.DefaultMaxRecvBytes, "largest gRPC check message accepted, body included")
	fs.IntVar(&cfg.NonceCapacity, "nonce-capacity", daemon.DefaultNonceCapacity, "deliveries the replay store holds, every endpoint's share together (about 65 bytes each when full)")
	fs.StringVar(&cfg.State, "state", daemon.StateMemory, "where replay nonces and rate-limit buckets live: memory (this process), or a Redis URL replicas share: redis://[user:password@]host:port[/db], rediss:// (TLS), redis+sentinel://host:port?master_name=NAME, redis+cluster://host:port?addr=host:port")
	fs.StringVar(&cfg.StatePrefix, "state-prefix", daemon.DefaultStatePrefix, "prefix of every Redis key, to share a Redis with other applications")
	fs.DurationVar(&cfg.StateTimeout, "state-timeout", daemon.DefaultStateTimeout, "longest wait for one Redis operation; a check it delays longer is answered 503 (or from local state with state_fallback: local)")
	fs.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", 10*time.Second, "time in-flight checks get to finish on SIGTERM")
	watch := fs.Bool("watch", true, "reload the policy when its files or secret files change (SIGHUP always reloads)")
	fs.DurationVar(&cfg.ReloadDebounce, "reload-debounce", daemon.DefaultReloadDebounce, "quiet time after a policy change before reloading")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	format := fs.String("log-format", "json", "log format: json or console")
	allowSample := fs.Float64("log-allow-sample", 1, "share of allowed decisions logged, 0 to 1 (denials are always logged)")
	fs.IntVar(&cfg.DecisionLogBuffer, "decision-log-buffer", daemon.DefaultDecisionLogBuffer, "bytes of decision log lines held while the log's destination is slow; lines beyond are dropped and counted, never waited for")
	fs.StringVar(&cfg.OTLPEndpoint, "otlp-endpoint", "", "OTLP/gRPC collector for a span per check, http://host:port or https://host:port (off when empty)")
	fs.Float64Var(&cfg.TraceSampleRatio, "otlp-sample-ratio", 1, "share of checks traced whose request carries no sampled trace context, 0 to 1")
	fs.BoolVar(&cfg.Pprof, "pprof", false, "serve net/http/pprof on the admin address under /debug/pprof/")
	rest, err := fs.parse(args)
	if err == nil {
		err = fs.noArguments(rest)
	}
	if err == nil && cfg.PolicyDir == "" {
		err = fs.errorf("--policies DIR is required")
	}
	if err == nil {
		if e := finishLink(); e != nil {
			err = fs.errorf("%v", e)
		}
	}
	if err == nil {
		if e := daemon.CheckState(cfg.State, cfg.StatePrefix, cfg.StateTimeout); e != nil {
			err = fs.errorf("--state %s: %v", cfg.State, e)
		}
	}
	if err == nil && (*allowSample < 0 || *allowSample > 1) {
		err = fs.errorf("--log-allow-sample %v: must be from 0 to 1", *allowSample)
	}
	if err == nil && (cfg.TraceSampleRatio < 0 || cfg.TraceSampleRatio > 1) {
		err = fs.errorf("--otlp-sample-ratio %v: must be from 0 to 1", cfg.TraceSampleRatio)
	}
	if err == nil && cfg.OTLPEndpoint != "" {
		if cerr := daemon.CheckOTLPEndpoint(cfg.OTLPEndpoint); cerr != nil {
			err = fs.errorf("--otlp-endpoint: %v", cerr)
		}
	}
	var log zerolog.Logger
	if err == nil {
		log, err = newLogger(stderr, *level, *format)
	}
	if err != nil {
		return fs.exit(err)
	}
	cfg.Log = log
	cfg.LogOutput = logOutput(stderr, *format)
	cfg.AllowLogSkip = 1 - *allowSample
	cfg.DisableWatch = !*watch

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// SIGHUP reloads the policy, as it reloads the configuration of most
	// daemons; registering it also keeps it from killing the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reloads := make(chan struct{})
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case reloads <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	cfg.Reload = reloads
	if err := daemon.Run(ctx, cfg); err != nil {
		log.Error().Msg(err.Error())
		return 1
	}
	return 0
}

// logOutput is where newLogger's logger writes, for decision lines that
// go through a buffer: the console format takes one line per write.
func logOutput(w io.Writer, format string) io.Writer {
	if format == "console" {
		return daemon.EachLine(zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339})
	}
	return w
}

func newLogger(w io.Writer, level, format string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Logger{}, fmt.Errorf("--log-level %q: must be debug, info, warn or error", level)
	}
	switch format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	default:
		return zerolog.Logger{}, fmt.Errorf("--log-format %q: must be json or console", format)
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

// linkFlags defines the flags of the Envoy-to-hookguard link (TLS, client
// identities, unix socket mode, health listener) on fs. The returned
// function, called after parsing, checks them and fills cfg.
func linkFlags(fs *flag.FlagSet, cfg *daemon.Config) func() error {
	var files daemon.TLSFiles
	var grpcIDs, adminIDs listFlag
	mode := modeFlag(daemon.DefaultSocketMode)
	fs.StringVar(&files.CertFile, "grpc-tls-cert", "", "server certificate chain (PEM); with --grpc-tls-key and --grpc-client-ca, gRPC speaks TLS and requires client certificates; reloaded on change")
	fs.StringVar(&files.KeyFile, "grpc-tls-key", "", "private key of --grpc-tls-cert (PEM)")
	fs.StringVar(&files.ClientCAFile, "grpc-client-ca", "", "CAs whose client certificates are accepted (PEM bundle)")
	fs.Var(&grpcIDs, "grpc-client-id", "accept only client certificates naming this SPIFFE ID (URI SAN) or DNS SAN; repeatable or comma-separated")
	fs.BoolVar(&cfg.AdminTLS, "admin-tls", false, "serve the admin endpoints over TLS with the gRPC certificate, client certificate required")
	fs.Var(&adminIDs, "admin-client-id", "with --admin-tls, accept only client certificates naming this SPIFFE ID or DNS SAN; repeatable or comma-separated")
	fs.Var(&mode, "socket-mode", "permission of unix socket listeners, octal")
	fs.StringVar(&cfg.HealthAddr, "health-addr", "", "plaintext listener serving only the gRPC health service, for Kubernetes gRPC probes (off when empty)")
	fs.DurationVar(&cfg.GRPCMaxConnectionAge, "grpc-max-connection-age", 0, "have gRPC clients reconnect this often, so rotated certificates and new replicas are used (0: never)")
	return func() error {
		var err error
		if cfg.GRPCClientIDs, err = daemon.ParseClientIDs(grpcIDs); err != nil {
			return fmt.Errorf("--grpc-client-id: %w", err)
		}
		if cfg.AdminClientIDs, err = daemon.ParseClientIDs(adminIDs); err != nil {
			return fmt.Errorf("--admin-client-id: %w", err)
		}
		cfg.SocketMode = os.FileMode(mode)
		switch n := countSet(files.CertFile, files.KeyFile, files.ClientCAFile); {
		case n == 3:
			cfg.TLS = &files
		case n > 0:
			return errors.New("--grpc-tls-cert, --grpc-tls-key and --grpc-client-ca go together: TLS without client certificates would still let anyone call Check")
		}
		return nil
	}
}

func countSet(values ...string) int {
	n := 0
	for _, v := range values {
		if v != "" {
			n++
		}
	}
	return n
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

// Set appends v; splitting on commas is the consumer's (ParseClientIDs).
func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// modeFlag is a file permission written in octal, as chmod takes it.
type modeFlag os.FileMode

func (m *modeFlag) String() string { return fmt.Sprintf("%#o", uint32(*m)) }

// Set parses an octal permission such as 0660 or 660.
func (m *modeFlag) Set(v string) error {
	n, err := strconv.ParseUint(v, 8, 32)
	if err != nil || n > 0o777 {
		return fmt.Errorf("%q is not an octal permission such as 0660", v)
	}
	*m = modeFlag(n)
	return nil
}
