package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/policy"
	"github.com/hookguard/hookguard/authz/verify"
)

// demoValues are the values the demo gives the example policies' secrets,
// as the README shows them; any other variable gets one made from its name.
var demoValues = map[string]string{
	"GITHUB_WEBHOOK_SECRET": "demo-github-secret",
	"GITLAB_WEBHOOK_TOKEN":  "demo-gitlab-token",
	"PARTNER_WEBHOOK_TOKEN": "demo-partner-token",
}

func demoValue(name string) string {
	if v, ok := demoValues[name]; ok {
		return v
	}
	return "demo-" + strings.ToLower(strings.ReplaceAll(name, "_", "-"))
}

// demoEnv resolves secret references as hookguard will see them in the
// demo: from the environment, and for every variable unset or empty there,
// a demo value, which it remembers so the demo sets it for hookguard and
// prints it. Files are read as they are.
type demoEnv struct {
	set map[string]string // variable → demo value
}

func (d *demoEnv) LookupEnv(name string) (string, bool) {
	if v := os.Getenv(name); v != "" {
		return v, true
	}
	v := demoValue(name)
	d.set[name] = v
	return v, true
}

func (d *demoEnv) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

// secretRef is one secret reference of an endpoint, and its value.
type secretRef struct {
	env, file string
	value     authz.Secret
}

// recordSecrets records the secret references resolved through it, in
// order, without repeats.
type recordSecrets struct {
	src  policy.SecretSource
	refs []secretRef
}

func (r *recordSecrets) LookupEnv(name string) (string, bool) {
	v, ok := r.src.LookupEnv(name)
	r.add(secretRef{env: name, value: authz.Secret(v)})
	return v, ok
}

func (r *recordSecrets) ReadFile(path string) ([]byte, error) {
	b, err := r.src.ReadFile(path)
	if err == nil {
		r.add(secretRef{file: path, value: policy.FileSecret(b)})
	}
	return b, err
}

func (r *recordSecrets) add(ref secretRef) {
	for _, have := range r.refs {
		if have.env == ref.env && have.file == ref.file {
			return
		}
	}
	r.refs = append(r.refs, ref)
}

// target is one endpoint of the served policies and the secrets it
// references, one of which a sender signs with.
type target struct {
	endpoint *authz.Endpoint
	secrets  []secretRef
}

// loadTargets loads dir as hookguard will in the demo and returns its
// endpoints, sorted by name. A policy that does not load is an error that
// names what to fix, before anything starts.
func loadTargets(dir string, env *demoEnv) ([]target, error) {
	res, err := policy.Load(dir, policy.Options{Secrets: env})
	if err != nil {
		return nil, loadError(dir, env, err)
	}
	var out []target
	for _, e := range res.Policy.Endpoints() {
		rec := &recordSecrets{src: env}
		if _, err := policy.Load(dir, policy.Options{Secrets: rec, Only: e.Name}); err != nil {
			return nil, err
		}
		out = append(out, target{endpoint: e, secrets: rec.refs})
	}
	slices.SortFunc(out, func(a, b target) int { return strings.Compare(a.endpoint.Name, b.endpoint.Name) })
	return out, nil
}

// loadError explains why dir does not load in the demo. Most often a demo
// value stands where the policy checks a key's format, such as a public
// key: the error then names the variables to export real values for.
func loadError(dir string, env *demoEnv, err error) error {
	var errs policy.Errors
	if !errors.As(err, &errs) {
		return err
	}
	var vars []string
	for _, d := range errs {
		if d.Endpoint == "" {
			continue
		}
		rec := &recordEnv{src: env}
		policy.Load(dir, policy.Options{Secrets: rec, Only: d.Endpoint})
		for _, name := range rec.names {
			if _, demo := env.set[name]; demo && !slices.Contains(vars, name) {
				vars = append(vars, name)
			}
		}
	}
	if len(vars) == 0 {
		return fmt.Errorf("the policies in %s do not load:\n%w", dir, err)
	}
	return fmt.Errorf("the policies in %s do not load with demo values for %s: export real ones (a provider's public key, say), or serve another -policies:\n%w",
		dir, strings.Join(vars, ", "), err)
}

// recordEnv records the variables resolved through it.
type recordEnv struct {
	src   policy.SecretSource
	names []string
}

func (r *recordEnv) LookupEnv(name string) (string, bool) {
	r.names = append(r.names, name)
	return r.src.LookupEnv(name)
}

func (r *recordEnv) ReadFile(path string) ([]byte, error) { return r.src.ReadFile(path) }

// envoyRoute is a route of the demo's Envoy that names an endpoint.
type envoyRoute struct {
	prefix, endpoint string
}

var (
	routePrefix    = regexp.MustCompile(`^\s*- match: \{path_separated_prefix: (\S+)\}`)
	routeMatch     = regexp.MustCompile(`^\s*- match:`)
	routeExtension = regexp.MustCompile(`hookguard\.endpoint: ([^\s}]+)`)
)

// namedRoutes reads, from an Envoy bootstrap rendered from
// envoy/envoy.yaml.tmpl, the routes whose context extension names an
// endpoint. Every other path reaches hookguard unnamed.
func namedRoutes(bootstrap string) ([]envoyRoute, error) {
	f, err := os.Open(bootstrap)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var routes []envoyRoute
	prefix := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if m := routePrefix.FindStringSubmatch(line); m != nil {
			prefix = m[1]
			continue
		}
		if routeMatch.MatchString(line) {
			prefix = ""
			continue
		}
		if m := routeExtension.FindStringSubmatch(line); m != nil && prefix != "" {
			routes = append(routes, envoyRoute{prefix: prefix, endpoint: m[1]})
			prefix = ""
		}
	}
	return routes, sc.Err()
}

// under reports whether path is prefix or below it, segment-wise, as
// Envoy's path_separated_prefix matches.
func under(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, strings.TrimSuffix(prefix, "/")+"/")
}

// The files the printed lines use.
const (
	payloadFile = "/tmp/payload.json"
	headersFile = "/tmp/hookguard-headers.txt"
	mailgunFile = "/tmp/hookguard-mailgun.json"
	payload     = `{"zen":"hi"}`
)

// demoSite is what a printed line needs to know of the running demo.
type demoSite struct {
	plainPort, mtlsPort int
	// ca, clientCert, clientKey and hookguard are paths as printed.
	ca, clientCert, clientKey, hookguard string
	// policies is the policy directory as printed, for the generic hmac
	// scheme, whose format is in the policy.
	policies string
	routes   []envoyRoute
	// demoSet are the variables the demo set, with their values.
	demoSet map[string]string
}

// delivery is how to send one endpoint a valid delivery through the demo's
// Envoy, or why the demo cannot.
type delivery struct {
	// comment heads the lines, without "# ".
	comment string
	// lines are shell commands; none when the demo cannot make a delivery.
	lines []string
	// replay, when set, resends the same delivery, for endpoints with
	// replay protection.
	replay string
	// unsigned sends the request without its credentials.
	unsigned string
	// noCertificate sends it to the plain listener, for an endpoint that
	// requires a client certificate.
	noCertificate string
}

// delivery works out a curl line for t. Before a line is printed, the
// headers it would send are made in-process and checked against the
// endpoint's verifier, so every printed line works as pasted.
func (s *demoSite) delivery(t target, now time.Time) delivery {
	e := t.endpoint
	scheme := e.Verifier.Scheme()
	head := fmt.Sprintf("%s (scheme %s", e.Name, scheme)
	if e.DryRun {
		head += ", DRY_RUN: failures are let through and only logged"
	}
	head += ")"

	path, why := s.path(e)
	if path == "" {
		return delivery{comment: head + ": " + why}
	}
	port, curl, certFlags := s.plainPort, "curl -sS --cacert "+s.ca, ""
	if e.Identity != nil {
		port = s.mtlsPort
		certFlags = fmt.Sprintf(" --cert %s --key %s", s.clientCert, s.clientKey)
		curl += certFlags
	}
	host := fmt.Sprintf("localhost:%d", port)
	url := fmt.Sprintf("https://localhost:%d%s", port, path)
	if len(e.Match.Hosts) > 0 {
		h := e.Match.Hosts[0]
		if rest, ok := strings.CutPrefix(h, "*."); ok {
			h = "demo." + rest
		}
		host = fmt.Sprintf("%s:%d", h, port)
		curl += fmt.Sprintf(" -H 'Host: %s'", host)
	}
	method := "POST"
	if len(e.Match.Methods) > 0 && !slices.Contains(e.Match.Methods, "POST") {
		method = e.Match.Methods[0]
		curl += " -X " + method
	}
	req := func(h authz.Header, body string) *authz.Request {
		h["content-type"] = "application/json"
		return &authz.Request{Method: method, Scheme: "https", Host: host, Path: path, Header: h, Body: []byte(body)}
	}
	unsigned := fmt.Sprintf("%s -H 'Content-Type: application/json' --data-binary @%s %s; echo", curl, payloadFile, url)

	if len(t.secrets) == 0 {
		return delivery{comment: head + ": it references no secret the demo could sign with; send a delivery from its provider"}
	}
	if scheme == "token" {
		// The token goes as is, after the prefix, if any, the verifier
		// expects: try the two in use.
		header := credentialHeader(e.Verifier)
		for _, ref := range t.secrets {
			for _, p := range []string{"", "Bearer "} {
				h := authz.Header{header: p + string(ref.value)}
				if _, err := e.Verifier.Verify(req(h, payload), now); err != nil {
					continue
				}
				return s.withoutCertificate(e, certFlags, delivery{
					comment:  head + ": its token (200; the token is not forwarded)",
					lines:    []string{fmt.Sprintf("%s -H \"%s: %s%s\" -H 'Content-Type: application/json' --data-binary @%s %s; echo", curl, headerName(header), p, s.shown(ref), payloadFile, url)},
					unsigned: unsigned,
				})
			}
		}
		return delivery{comment: head + ": the demo cannot tell how its token is sent; send a delivery from its provider"}
	}

	// Sign as `hookguard sign` will, with each secret, with and without
	// the URL for schemes that sign it, and keep the first form the
	// endpoint accepts.
	msg := verify.Message{Body: []byte(payload), Method: method, ContentType: "application/json", Time: now}
	var lastErr error
	for _, ref := range t.secrets {
		for _, withURL := range []bool{false, true} {
			m := msg
			if withURL {
				m.URL = "https://" + host + path
			}
			r, err := signed(e, ref.value, scheme, m, req)
			if err == nil {
				_, err = e.Verifier.Verify(r, now)
			}
			if err != nil {
				lastErr = err
				continue
			}
			sign := fmt.Sprintf("%s%s sign --scheme %s %s", s.envPrefix(ref), s.hookguard, scheme, keyFlag(ref))
			if scheme == "hmac" {
				sign += fmt.Sprintf(" --policies %s --endpoint %s", s.policies, e.Name)
			}
			if withURL {
				sign += " --url " + m.URL
			}
			sign += " --content-type application/json --body-file " + payloadFile
			d := delivery{comment: head + ": a signed delivery (200, echoed by the upstream)", unsigned: unsigned}
			if scheme == "mailgun" {
				// Mailgun signs in the body: sign prints the body to send.
				d.lines = []string{fmt.Sprintf("%s > %s && %s -H 'Content-Type: application/json' --data-binary @%s %s; echo", sign, mailgunFile, curl, mailgunFile, url)}
				d.replay = fmt.Sprintf("%s -H 'Content-Type: application/json' --data-binary @%s %s; echo", curl, mailgunFile, url)
			} else {
				d.lines = []string{fmt.Sprintf("%s > %s && %s -H @%s -H 'Content-Type: application/json' --data-binary @%s %s; echo", sign, headersFile, curl, headersFile, payloadFile, url)}
				d.replay = fmt.Sprintf("%s -H @%s -H 'Content-Type: application/json' --data-binary @%s %s; echo", curl, headersFile, payloadFile, url)
			}
			if e.ReplayTTL <= 0 {
				d.replay = ""
			}
			return s.withoutCertificate(e, certFlags, d)
		}
	}
	return delivery{comment: fmt.Sprintf("%s: the demo cannot make a delivery it accepts (%v). Send one from the provider, or sign one yourself: see hookguard sign -h (--private-key-file for an asymmetric scheme, --url for one that signs the URL)", head, lastErr)}
}

// keyFlag is the `hookguard sign` flag that names ref.
func keyFlag(ref secretRef) string {
	if ref.file != "" {
		return "--secret-file " + ref.file
	}
	return "--secret-env " + ref.env
}

// envPrefix is "VAR=value " for a variable the demo set, so the line works
// in a shell that lacks it; "" for the user's own.
func (s *demoSite) envPrefix(ref secretRef) string {
	if v, ok := s.demoSet[ref.env]; ok && ref.file == "" {
		return ref.env + "=" + v + " "
	}
	return ""
}

// shown is how a line spells the value of ref: a demo value as is, the
// user's own from their shell or file.
func (s *demoSite) shown(ref secretRef) string {
	switch v, ok := s.demoSet[ref.env]; {
	case ref.file != "":
		return "$(cat " + ref.file + ")"
	case ok:
		return v
	default:
		return "$" + ref.env
	}
}

// withoutCertificate adds to d, for an endpoint that requires a client
// certificate, its line sent without one to the plain listener.
func (s *demoSite) withoutCertificate(e *authz.Endpoint, certFlags string, d delivery) delivery {
	if e.Identity == nil || len(d.lines) == 0 {
		return d
	}
	line := strings.Replace(d.lines[0], certFlags, "", 1)
	d.noCertificate = strings.ReplaceAll(line, fmt.Sprintf("https://localhost:%d/", s.mtlsPort), fmt.Sprintf("https://localhost:%d/", s.plainPort))
	return d
}

// signed is the request that `hookguard sign` makes for e with key and m.
func signed(e *authz.Endpoint, key authz.Secret, scheme string, m verify.Message, req func(authz.Header, string) *authz.Request) (*authz.Request, error) {
	h := authz.Header{}
	body := string(m.Body)
	var headers []authz.HeaderValue
	var err error
	switch scheme {
	case "mailgun":
		var b []byte
		b, err = verify.SignMailgunBody(key, m)
		body = string(b)
	case "hmac":
		v, ok := e.Verifier.(*verify.HMAC)
		if !ok {
			return nil, errors.New("not an hmac verifier")
		}
		headers, err = v.Sign(m)
	default:
		headers, err = verify.Sign(scheme, key, m)
	}
	if err != nil {
		return nil, err
	}
	for _, hv := range headers {
		h[strings.ToLower(hv.Name)] = hv.Value
	}
	return req(h, body), nil
}

// path is where a request for e goes in the demo: the prefix of the Envoy
// route that names it, else its own path; "" and why when Envoy routes
// none of its requests to it.
func (s *demoSite) path(e *authz.Endpoint) (string, string) {
	for _, r := range s.routes {
		if r.endpoint == e.Name {
			return r.prefix, ""
		}
	}
	p := e.Match.Path
	if p == "" {
		p = e.Match.PathPrefix
	}
	if p == "" && len(e.Match.Hosts) > 0 {
		p = "/webhooks/" + e.Name // any path of its hosts
	}
	if p == "" {
		return "", "it has no match, so only an Envoy route naming it (context extension hookguard.endpoint: " + e.Name + ") reaches it, and the demo's Envoy (envoy/envoy.yaml.tmpl) has none"
	}
	for _, r := range s.routes {
		if under(p, r.prefix) {
			return "", fmt.Sprintf("the demo's Envoy (envoy/envoy.yaml.tmpl) routes %s to endpoint %s by name, so %s is not reachable there", r.prefix, r.endpoint, p)
		}
	}
	return p, ""
}

// credentialHeader is the header a token verifier reads.
func credentialHeader(v authz.Verifier) string {
	if c, ok := v.(interface{ CredentialHeaders() []string }); ok && len(c.CredentialHeaders()) > 0 {
		return c.CredentialHeaders()[0]
	}
	return "authorization"
}

// headerName writes a lower-case header name the way documentation does:
// x-gitlab-token as X-Gitlab-Token.
func headerName(h string) string {
	parts := strings.Split(h, "-")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "-")
}

// relTo shows path relative to the working directory when it is below it,
// so the printed lines stay short when run from the repository root (make
// demo) and still work from anywhere else.
func relTo(wd, path string) string {
	r, err := filepath.Rel(wd, path)
	if err != nil || strings.HasPrefix(r, "..") {
		return path
	}
	return "./" + r
}
