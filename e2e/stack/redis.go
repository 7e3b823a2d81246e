package stack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// RedisEnv names the environment variable that points at a redis-server
// binary; without it, redis-server is looked up on PATH (the Debian package
// redis-server, which `make redis` installs).
const RedisEnv = "HOOKGUARD_REDIS_SERVER"

// RedisBinary returns the redis-server to run, or an error that says how to
// install it. Tests that need Redis fail with that error rather than skip:
// shared state is only tested against the real server.
func RedisBinary() (string, error) {
	if bin := os.Getenv(RedisEnv); bin != "" {
		return bin, nil
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("redis-server not found (%v): run `make redis` (apt-get install redis-server) or set %s", err, RedisEnv)
	}
	return bin, nil
}

// Redis is a redis-server process on a loopback port, with its working
// directory in a temporary directory and no persistence: a stop loses every
// key, as a failover to an empty replica would.
type Redis struct {
	Port    int
	Dir     string
	LogPath string
	bin     string
	proc    *process
}

// StartRedis starts redis-server on a free 127.0.0.1 port with dir as its
// working directory (created if needed), and waits until it answers PING.
func StartRedis(ctx context.Context, dir string) (*Redis, error) {
	bin, err := RedisBinary()
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := &Redis{Port: port, Dir: dir, LogPath: filepath.Join(dir, "redis.log"), bin: bin}
	if err := r.Start(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Start (re)starts the server on its port after Stop, empty.
func (r *Redis) Start(ctx context.Context) error {
	if r.proc != nil && !r.proc.exited() {
		return errors.New("stack: redis-server is already running")
	}
	argv := []string{r.bin,
		"--port", itoa(r.Port),
		"--bind", "127.0.0.1",
		"--dir", r.Dir,
		// No RDB snapshots, no AOF: nothing is written, nothing survives a
		// stop.
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		// The hookguard deployment guide's setting: a full Redis refuses
		// writes (hookguard then answers 503) instead of evicting nonces.
		"--maxmemory-policy", "noeviction",
		"--loglevel", "warning",
		// DEBUG SLEEP, from loopback only: tests hold the server still to
		// time out a request whose write is then applied.
		"--enable-debug-command", "local",
	}
	proc, err := startProcess("redis-server", argv, os.Environ(), r.Dir, r.LogPath, "")
	if err != nil {
		return err
	}
	r.proc = proc
	err = poll(ctx, 10*time.Second, 50*time.Millisecond, func() (bool, error) {
		if proc.exited() {
			return false, fmt.Errorf("redis-server %w: %v\n%s", errExited, proc.waitErr, tail(r.LogPath, 2048))
		}
		reply, err := r.Command("PING")
		return err == nil && reply == "PONG", nil
	}, "redis-server on "+r.Addr()+" to answer PING")
	if err != nil {
		_ = r.Stop()
		return err
	}
	return nil
}

// Addr is host:port.
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", itoa(r.Port)) }

// URL is the address as hookguard's --state takes it.
func (r *Redis) URL() string { return "redis://" + r.Addr() }

// Stop kills the server: an outage as abrupt as a crash. It is safe to call
// more than once, and Start brings it back on the same port.
func (r *Redis) Stop() error {
	if r == nil || r.proc == nil {
		return nil
	}
	err := r.proc.kill()
	r.proc = nil
	return err
}

// Command sends one command over a fresh connection and returns the reply
// as text: a status or bulk string as is, an integer in decimal, an error as
// a Go error. It is for test set-up and inspection (INFO, DBSIZE,
// FLUSHALL), not for the code under test, which uses its own client.
func (r *Redis) Command(args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", r.Addr(), time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return "", err
	}
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("redis: empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New("redis: " + line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	default:
		return "", fmt.Errorf("redis: reply type %q not supported here", line[0])
	}
}

// Info returns one field of INFO section, e.g. Info("memory", "used_memory").
func (r *Redis) Info(section, field string) (string, error) {
	text, err := r.Command("INFO", section)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(text, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("redis INFO %s has no field %s", section, field)
}
