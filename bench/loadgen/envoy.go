package main

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"
)

//go:embed envoy.yaml.tmpl
var envoyTemplate string

type envoyListener struct {
	Name    string
	Port    int
	Cluster string // the ext_authz cluster; empty for none
}

type envoyCluster struct {
	Name string
	Port int
	GRPC bool
}

// envoyProc is the benchmark's Envoy.
type envoyProc struct {
	cmd       *exec.Cmd
	done      chan struct{}
	listeners map[string]int // variant → port
}

// noExtAuthz names the listener without ext_authz.
const noExtAuthz = "no_ext_authz"

// startEnvoy renders the benchmark bootstrap, with a listener asking each
// of the ext_authz servers and one without ext_authz, and starts Envoy with
// one worker, waiting until its admin interface says LIVE.
func startEnvoy(ctx context.Context, bin, dir string, servers []*server, upstreamPort int) (*envoyProc, error) {
	ports := make([]int, len(servers)+2)
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	data := struct {
		AdminPort int
		Listeners []envoyListener
		Clusters  []envoyCluster
	}{AdminPort: ports[0]}
	for i, s := range servers {
		_, port, err := net.SplitHostPort(s.addr)
		if err != nil {
			return nil, err
		}
		p, _ := strconv.Atoi(port)
		data.Listeners = append(data.Listeners, envoyListener{s.name, ports[i+1], s.name})
		data.Clusters = append(data.Clusters, envoyCluster{s.name, p, true})
	}
	data.Listeners = append(data.Listeners, envoyListener{noExtAuthz, ports[len(ports)-1], ""})
	data.Clusters = append(data.Clusters, envoyCluster{"upstream", upstreamPort, false})
	var cfg bytes.Buffer
	if err := template.Must(template.New("envoy").Parse(envoyTemplate)).Execute(&cfg, data); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "envoy.yaml")
	if err := os.WriteFile(path, cfg.Bytes(), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "envoy.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--disable-hot-restart", "--concurrency", "1", "--log-level", "warn", "-c", path)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	e := &envoyProc{cmd: cmd, done: make(chan struct{}), listeners: map[string]int{}}
	go func() { cmd.Wait(); logf.Close(); close(e.done) }()
	for _, l := range data.Listeners {
		e.listeners[l.Name] = l.Port
	}
	admin := "http://127.0.0.1:" + strconv.Itoa(ports[0]) + "/ready"
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-e.done:
			return nil, fmt.Errorf("envoy exited; see %s", filepath.Join(dir, "envoy.log"))
		default:
		}
		resp, err := http.Get(admin)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.TrimSpace(string(b)) == "LIVE" {
				return e, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.stop()
	return nil, fmt.Errorf("envoy not LIVE after 30s; see %s", filepath.Join(dir, "envoy.log"))
}

func (e *envoyProc) stop() {
	e.cmd.Process.Kill()
	<-e.done
}

// upstream is the application behind Envoy: it reads the body and answers
// 200.
func startUpstream() (port int, stop func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("ok\n"))
	})}
	go srv.Serve(l)
	return l.Addr().(*net.TCPAddr).Port, func() { srv.Close() }, nil
}

// httpCaller returns the call that posts one signed delivery to url with
// client, whose transport keeps a connection per worker, as webhook
// senders do.
func httpCaller(ctx context.Context, client *http.Client, url string, d *delivery) func(*worker) (time.Duration, bool, bool) {
	hdr := githubHeaders(len(d.body))
	delete(hdr, "content-length")
	return func(w *worker) (time.Duration, bool, bool) {
		n := seq.Add(1)
		w.buf = append(w.buf[:0], d.body...)
		putHex(w.buf[d.prefix:d.prefix+len(seqMark)], n)
		sig := d.signer.sign(nil, w.buf[d.prefix:])
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(w.buf))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		id := make([]byte, 36)
		copy(id, "72d3162e-cc78-11e3-")
		putHex(id[19:], n)
		req.Header.Set("x-github-delivery", string(id))
		req.Header.Set("x-hub-signature-256", string(sig))
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return time.Since(start), false, false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start), resp.StatusCode == http.StatusOK, true
	}
}
