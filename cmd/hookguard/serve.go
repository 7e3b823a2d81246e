package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookguard/hookguard/authz/daemon"
)

func serve(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := daemon.Config{}
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
	if err := parseFlags(fs, args); err != nil {
		return 2
	}
	if cfg.PolicyDir == "" {
		fmt.Fprintln(stderr, "hookguard serve: --policies is required")
		return 2
	}
	log, err := newLogger(stderr, *level, *format)
	if err != nil {
		fmt.Fprintln(stderr, "hookguard serve:", err)
		return 2
	}
	cfg.Log = log
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

func newLogger(w io.Writer, level, format string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Logger{}, fmt.Errorf("unknown log level %q", level)
	}
	switch format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	default:
		return zerolog.Logger{}, fmt.Errorf("unknown log format %q (json or console)", format)
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}
