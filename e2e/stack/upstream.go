package stack

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// RecordedRequest is one request as the upstream saw it, after Envoy and
// hookguard had their say: the point of the e2e tests is what got through.
type RecordedRequest struct {
	Method string
	Path   string // including the query string
	Host   string
	Header http.Header
	Body   []byte
}

// Echo is the JSON the upstream answers with. Body is a string so a byte-exact
// body round-trips through encoding/json only when it is valid UTF-8; tests
// that send other bytes compare Requests() instead.
type Echo struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Host    string              `json:"host"`
	Headers map[string][]string `json:"headers"`
	Body    string              `json:"body"`
	BodyLen int                 `json:"body_len"`
}

// Upstream is an in-process HTTP/1.1 server standing in for the application
// behind the gateway. It records every request and echoes it back as JSON.
type Upstream struct {
	srv *http.Server
	ln  net.Listener

	mu   sync.Mutex
	reqs []RecordedRequest
	fail []int // statuses the next requests get instead of the echo
}

// maxUpstreamBody bounds what one recorded request may hold; anything Envoy
// forwards is already capped by max_request_bytes, this is a backstop.
const maxUpstreamBody = 64 << 20

// StartUpstream listens on 127.0.0.1:port (0 picks a free one) and serves in
// the background until Close.
func StartUpstream(port int) (*Upstream, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", itoa(port)))
	if err != nil {
		return nil, err
	}
	u := &Upstream{ln: ln}
	u.srv = &http.Server{Handler: http.HandlerFunc(u.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = u.srv.Serve(ln) }()
	return u, nil
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxUpstreamBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rec := RecordedRequest{
		Method: r.Method,
		Path:   r.URL.RequestURI(),
		Host:   r.Host,
		Header: r.Header.Clone(),
		Body:   body,
	}
	u.mu.Lock()
	u.reqs = append(u.reqs, rec)
	status := 0
	if len(u.fail) > 0 {
		status, u.fail = u.fail[0], u.fail[1:]
	}
	u.mu.Unlock()
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}

	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(Echo{
		Method:  rec.Method,
		Path:    rec.Path,
		Host:    rec.Host,
		Headers: rec.Header,
		Body:    string(body),
		BodyLen: len(body),
	})
}

// FailNext makes the next n requests, once recorded, get status instead
// of the echo, as an application that is down would answer them.
func (u *Upstream) FailNext(n, status int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for range n {
		u.fail = append(u.fail, status)
	}
}

// Port is the port the upstream listens on.
func (u *Upstream) Port() int { return u.ln.Addr().(*net.TCPAddr).Port }

// Requests returns a copy of everything recorded since the last Reset.
func (u *Upstream) Requests() []RecordedRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]RecordedRequest, len(u.reqs))
	copy(out, u.reqs)
	return out
}

// Reset forgets the recorded requests, so each test can start from zero on a
// shared stack.
func (u *Upstream) Reset() {
	u.mu.Lock()
	u.reqs = nil
	u.mu.Unlock()
}

// Close stops the server, waiting at most a few seconds for open requests.
func (u *Upstream) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return u.srv.Shutdown(ctx)
}
