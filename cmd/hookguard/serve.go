package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
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
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", ":9191", "ext_authz gRPC listen address")
	fs.StringVar(&cfg.AdminAddr, "admin-addr", ":9192", "admin HTTP listen address (/healthz, /readyz, /status, /metrics)")
	fs.IntVar(&cfg.MaxRecvBytes, "max-body-bytes", daemon.DefaultMaxRecvBytes, "largest gRPC check message accepted, body included")
	fs.IntVar(&cfg.NonceCapacity, "nonce-capacity", daemon.DefaultNonceCapacity, "deliveries the replay cache holds")
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
