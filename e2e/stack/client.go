package stack

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// NewClient returns an HTTPS client that trusts only tlsConf's roots and
// dials 127.0.0.1:port whatever host the URL names, so URLs can say
// "localhost" (the certificate name) without depending on how the machine
// resolves it. With http2 false it speaks HTTP/1.1 only.
func NewClient(tlsConf *tls.Config, port int, http2 bool) *http.Client {
	return NewClientFrom(tlsConf, port, http2, nil)
}

// NewClientFrom is NewClient with the client's source address chosen, such
// as 127.0.0.2, so tests can exercise source allowlists on one machine (the
// whole 127.0.0.0/8 is loopback). A nil source lets the kernel choose.
func NewClientFrom(tlsConf *tls.Config, port int, http2 bool, source net.IP) *http.Client {
	target := net.JoinHostPort("127.0.0.1", itoa(port))
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if source != nil {
		dialer.LocalAddr = &net.TCPAddr{IP: source}
	}
	tr := &http.Transport{
		TLSClientConfig: tlsConf.Clone(),
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "tcp4", target)
		},
		ForceAttemptHTTP2:   http2,
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}
	if !http2 {
		// A non-nil empty map is how net/http is told not to negotiate h2.
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}
}
