package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/ratelimit"
	"github.com/hookguard/hookguard/authz/internal/replay"
	"github.com/hookguard/hookguard/authz/internal/state"
)

// StateMemory is the --state of a single replica: nonces and buckets in
// this process.
const StateMemory = "memory"

// DefaultStateTimeout is the default bound on one Redis operation.
const DefaultStateTimeout = state.DefaultTimeout

// DefaultStatePrefix starts every Redis key by default.
const DefaultStatePrefix = state.DefaultPrefix

// openState returns the nonce store and limiter cfg.State asks for. With
// Redis, shared is its connection, and the in-memory mem stores serve the
// endpoints for which local reports state_fallback: local while Redis
// fails.
func openState(cfg Config, log zerolog.Logger, reg prometheus.Registerer, mem *replay.Memory, memLimiter *ratelimit.Memory,
	local func(endpoint string) bool) (authz.NonceStore, authz.Limiter, *state.Redis, error) {
	if cfg.State == "" || cfg.State == StateMemory {
		return mem, memLimiter, nil, nil
	}
	health := state.NewHealth("redis", log, reg)
	r, err := state.OpenRedis(state.RedisConfig{URL: cfg.State, Prefix: cfg.StatePrefix, Timeout: cfg.StateTimeout, Health: health})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--state: %w", err)
	}
	log.Info().Str("state", r.Kind()).Str("addr", r.Addr()).Str("prefix", r.Prefix()).
		Dur("timeout", r.Timeout()).Msg("replay nonces and rate limits are shared in Redis")
	nonces := &state.Nonces{Shared: replay.NewRedis(r), LocalStore: mem, Local: local, Health: health}
	limiter := &state.Limiter{Shared: ratelimit.NewRedis(r), LocalLimiter: memLimiter, Local: local, Health: health}
	return nonces, limiter, r, nil
}

// warnEviction warns once, when Redis first answers, if its maxmemory
// policy may evict hookguard's keys: an evicted nonce lets a replay of its
// delivery through. noeviction makes a full Redis refuse writes instead,
// which hookguard answers with 503.
func warnEviction(ctx context.Context, r *state.Redis, log zerolog.Logger) {
	for {
		policy, err := r.MaxmemoryPolicy(ctx)
		if err == nil {
			if policy != "noeviction" {
				log.Warn().Str("maxmemory_policy", policy).
					Msg("Redis may evict keys when full, replay nonces included, and a replay of an evicted delivery is accepted: set maxmemory-policy noeviction (see docs/deploy.md)")
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}

// CheckState checks the state flags, so that a mistyped URL is a usage
// error at once rather than a failure after the policy loaded. It connects
// to nothing.
func CheckState(url, prefix string, timeout time.Duration) error {
	if url == "" || url == StateMemory {
		return nil
	}
	r, err := state.OpenRedis(state.RedisConfig{URL: url, Prefix: prefix, Timeout: timeout})
	if err != nil {
		return err
	}
	return r.Close()
}
