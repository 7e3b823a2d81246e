package policytest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/ratelimit"
	"github.com/hookguard/hookguard/authz/internal/replay"
	"github.com/hookguard/hookguard/authz/policy"
	"github.com/hookguard/hookguard/authz/verify"
)

// Options tune Run.
type Options struct {
	// Out receives the report, like `go test`'s: a block per failed case
	// with the differences, a line per directory, and a closing
	// "N passed, M failed".
	Out io.Writer
	// Match, if set, runs only the cases whose "file: name" it matches.
	Match *regexp.Regexp
	// Verbose reports passing cases too.
	Verbose bool
}

// Summary counts the cases run.
type Summary struct {
	Passed, Failed int
}

// OK reports whether nothing failed.
func (s Summary) OK() bool { return s.Failed == 0 }

// Run runs the test files of each directory against the policies of that
// directory. A directory written "DIR/..." stands for DIR and every
// directory below it that holds test files. A test file that cannot be
// parsed, or with whose secrets the policy does not load, fails all its
// cases.
func Run(dirs []string, opts Options) Summary {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	var total Summary
	for _, d := range expand(dirs, opts.Out, &total) {
		s := runDir(d, opts)
		total.Passed += s.Passed
		total.Failed += s.Failed
	}
	fmt.Fprintf(opts.Out, "%d passed, %d failed\n", total.Passed, total.Failed)
	return total
}

// expand resolves "DIR/..." patterns into the directories holding tests.
func expand(dirs []string, out io.Writer, total *Summary) []string {
	var list []string
	for _, d := range dirs {
		root, recursive := strings.CutSuffix(filepath.ToSlash(d), "/...")
		if !recursive {
			list = append(list, d)
			continue
		}
		root = filepath.FromSlash(root)
		found := false
		err := filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() && p != root && strings.HasPrefix(e.Name(), ".") {
				return filepath.SkipDir
			}
			if e.IsDir() && len(testFiles(p)) > 0 {
				list = append(list, p)
				found = true
			}
			return nil
		})
		if err != nil {
			fmt.Fprintf(out, "FAIL\t%s\t%v\n", d, err)
			total.Failed++
		} else if !found {
			fmt.Fprintf(out, "?   \t%s\t[no test files]\n", d)
		}
	}
	return list
}

// testFiles lists the test files of dir, sorted.
func testFiles(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && IsTestFile(e.Name()) && !strings.HasPrefix(e.Name(), ".") {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(files)
	return files
}

// runDir runs one directory's test files and prints its summary line.
func runDir(dir string, opts Options) Summary {
	start := time.Now()
	files := testFiles(dir)
	var s Summary
	if len(files) == 0 {
		if _, err := os.Stat(dir); err != nil {
			fmt.Fprintf(opts.Out, "FAIL\t%s\t%v\n", dir, err)
			s.Failed++
			return s
		}
		fmt.Fprintf(opts.Out, "?   \t%s\t[no test files]\n", dir)
		return s
	}
	// Every file's secrets back every other file's: a directory holding
	// endpoints with keys of different formats (a public key, a whsec_
	// secret) still loads when each file sets only its own provider's.
	parsed := make([]*File, len(files))
	errs := make([]error, len(files))
	var shared Secrets
	for i, path := range files {
		parsed[i], errs[i] = ParseFile(path)
		if errs[i] == nil {
			shared = shared.orElse(parsed[i].Secrets)
		}
	}
	for i, path := range files {
		fs := runFile(dir, path, parsed[i], errs[i], shared, opts)
		s.Passed += fs.Passed
		s.Failed += fs.Failed
	}
	elapsed := time.Since(start).Seconds()
	if s.Failed > 0 {
		fmt.Fprintf(opts.Out, "FAIL\t%s\t%.3fs\t%d passed, %d failed\n", dir, elapsed, s.Passed, s.Failed)
	} else {
		fmt.Fprintf(opts.Out, "ok  \t%s\t%.3fs\t%d passed\n", dir, elapsed, s.Passed)
	}
	return s
}

// runFile loads the policy with one test file's secrets, backed by the
// directory's, and runs its cases.
func runFile(dir, path string, f *File, err error, shared Secrets, opts Options) Summary {
	var s Summary
	if err != nil {
		fmt.Fprintf(opts.Out, "--- FAIL: %s\n%s\n", path, indent(err.Error()))
		s.Failed++
		return s
	}
	var cases []*Case
	for _, c := range f.Tests {
		if opts.Match == nil || opts.Match.MatchString(filepath.Base(path)+": "+c.Name) {
			cases = append(cases, c)
		}
	}
	if len(cases) == 0 {
		return s
	}
	res, err := policy.Load(dir, policy.Options{Secrets: newSecretSource(f.Secrets.orElse(shared), dir)})
	if err != nil {
		fmt.Fprintf(opts.Out, "--- FAIL: %s: the policy does not load (%d cases not run)\n%s\n",
			path, len(cases), indent(err.Error()))
		s.Failed += len(cases)
		return s
	}
	for _, c := range cases {
		start := time.Now()
		diffs := f.run(res.Policy, dir, c)
		label := fmt.Sprintf("%s:%d: %s", path, c.Line, c.Name)
		if len(diffs) > 0 {
			s.Failed++
			fmt.Fprintf(opts.Out, "--- FAIL: %s (%.3fs)\n%s\n", label, time.Since(start).Seconds(), indent(strings.Join(diffs, "\n")))
			continue
		}
		s.Passed++
		if opts.Verbose {
			fmt.Fprintf(opts.Out, "--- PASS: %s (%.3fs)\n", label, time.Since(start).Seconds())
		}
	}
	return s
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// fixedClock is a Clock that always says the same time.
type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

// run sends the case's request and returns the differences from what it
// expects, one line each; none when it passes.
func (f *File) run(p *authz.Policy, dir string, c *Case) []string {
	now := f.Now
	if !c.Now.IsZero() {
		now = c.Now
	}
	r, err := f.request(dir, c, now)
	if err != nil {
		return []string{err.Error()}
	}
	a := authz.NewAuthorizer(authz.Config{Nonces: replay.NewMemory(replay.MemoryConfig{Capacity: 1000, Clock: fixedClock(now)}), Limiter: ratelimit.NewMemory(), Clock: fixedClock(now)})
	a.SetPolicy(p)
	var d authz.Decision
	for range max(c.Repeat, 1) {
		d = a.Check(context.Background(), r)
	}
	return c.Expect.diff(&d)
}

// request builds the case's request, signed if it asks to be.
func (f *File) request(dir string, c *Case, now time.Time) (*authz.Request, error) {
	q := c.Request
	r := &authz.Request{
		ID:            "policytest",
		Method:        strings.ToUpper(q.Method),
		Scheme:        q.Scheme,
		Host:          q.Host,
		Path:          q.Path,
		Query:         strings.TrimPrefix(q.Query, "?"),
		Header:        authz.Header{},
		Body:          []byte(q.Body),
		BodyTruncated: q.BodyTruncated,
		Principal:     q.Principal,
	}
	if r.Path == "" {
		// A case that names its endpoint need not give a path; Envoy
		// always sends one, and only a canonical one is accepted.
		r.Path = "/"
	}
	if r.Method == "" {
		r.Method = "POST"
	}
	if r.Scheme == "" {
		r.Scheme = "https"
	}
	if r.Host == "" {
		r.Host = "localhost"
	}
	if q.BodyFile != "" {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(f.Path), q.BodyFile))
		if err != nil {
			return nil, fmt.Errorf("request.body_file: %v", err)
		}
		r.Body = b
	}
	for k, v := range q.Headers {
		r.Header[k] = v
	}
	if q.Endpoint != "" {
		r.ContextExtensions = map[string]string{authz.EndpointExtension: q.Endpoint}
	}
	if q.Source != "" {
		src, err := parseSource(q.Source)
		if err != nil {
			return nil, fmt.Errorf("request.source: %v", err)
		}
		r.Source = src
	}
	if c.Sign != nil {
		if err := f.sign(r, c, now); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// parseSource reads "203.0.113.7", "203.0.113.7:443" or "[2001:db8::1]:443".
func parseSource(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q is not an address or address:port", s)
	}
	return netip.AddrPortFrom(addr, 0), nil
}

// sign adds the headers, or for Mailgun the body fields, of the case's
// signing scheme.
func (f *File) sign(r *authz.Request, c *Case, now time.Time) error {
	key, err := f.signingKey(c.Sign.Secret)
	if err != nil {
		return err
	}
	m := verify.Message{
		Body:        r.Body,
		Time:        c.Sign.Time,
		ID:          c.Sign.ID,
		URL:         requestURL(r),
		Method:      r.Method,
		ContentType: r.Header.Get("content-type"),
		KeyID:       c.Sign.KeyID,
	}
	if m.Time.IsZero() {
		m.Time = now
	}
	if m.ID == "" {
		m.ID = caseID(c.Name)
	}
	if c.Sign.Provider != "" {
		d, err := verify.SignProvider(c.Sign.Provider, c.Sign.Version, key, m)
		if err != nil {
			return fmt.Errorf("sign: %v", err)
		}
		r.Body = d.Body
		if d.URL != m.URL {
			u, err := url.Parse(d.URL)
			if err != nil {
				return fmt.Errorf("sign: %v", err)
			}
			r.Query = u.RawQuery
		}
		for _, h := range d.Headers {
			r.Header[strings.ToLower(h.Name)] = h.Value
		}
		return nil
	}
	if c.Sign.Scheme == "mailgun" {
		body, err := verify.SignMailgunBody(key, m)
		if err != nil {
			return fmt.Errorf("sign: %v", err)
		}
		r.Body = body
		return nil
	}
	headers, err := verify.Sign(c.Sign.Scheme, key, m)
	if err != nil {
		return fmt.Errorf("sign: %v", err)
	}
	for _, h := range headers {
		r.Header[strings.ToLower(h.Name)] = h.Value
	}
	return nil
}

// requestURL is the URL the provider requested, for schemes that sign it.
func requestURL(r *authz.Request) string {
	u := r.Scheme + "://" + r.Host + r.Path
	if r.Query != "" {
		u += "?" + r.Query
	}
	return u
}

// caseID is the delivery id of a signed case that names none: fixed, so
// results and expectations do not change from run to run, and UUID-shaped,
// as most providers' ids are.
func caseID(name string) string {
	b := sha256.Sum256([]byte(name))
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// diff compares a decision and its answer with the expectation. It reads
// the decision as the decision log does: the outcome is the policy's
// verdict, so a DRY_RUN endpoint's failure is "deny", with dry_run true
// and an answer that goes upstream.
func (e *Expect) diff(d *authz.Decision) []string {
	var out []string
	mismatch := func(field string, got, want any) {
		out = append(out, fmt.Sprintf("%s: got %s, want %s", field, show(got), show(want)))
	}
	ans := d.Answer()
	if got := string(d.Outcome()); e.Decision != "" && got != e.Decision {
		mismatch("decision", got, e.Decision)
		if d.DryRun && ans.Forward {
			out = append(out, "(the endpoint is in DRY_RUN mode: the request goes upstream, but the decision is the one enforcing would take)")
		}
	}
	if e.Status != 0 && ans.Status != e.Status {
		mismatch("status", ans.Status, e.Status)
	}
	if e.Reason != "" && string(d.Reason) != e.Reason {
		mismatch("reason", string(d.Reason), e.Reason)
	}
	if e.Endpoint != "" && d.Endpoint != e.Endpoint {
		mismatch("endpoint", d.Endpoint, e.Endpoint)
	}
	if e.Verified != nil && d.Verified != *e.Verified {
		mismatch("verified", d.Verified, *e.Verified)
	}
	if e.DryRun != nil && d.DryRun != *e.DryRun {
		mismatch("dry_run", d.DryRun, *e.DryRun)
	}
	if e.DeliveryID != "" && d.DeliveryID != e.DeliveryID {
		mismatch("delivery_id", d.DeliveryID, e.DeliveryID)
	}
	if e.DetailContains != "" && !strings.Contains(d.Detail, e.DetailContains) {
		out = append(out, fmt.Sprintf("detail: got %q, want it to contain %q", d.Detail, e.DetailContains))
	}
	set := map[string]string{}
	for _, h := range ans.SetHeaders {
		set[h.Name] = h.Value
	}
	for _, name := range sortedKeys(e.Headers.Set) {
		want := e.Headers.Set[name]
		if got, ok := set[strings.ToLower(name)]; !ok {
			out = append(out, fmt.Sprintf("headers.set.%s: not set, want %q", name, want))
		} else if got != want {
			mismatch("headers.set."+name, got, want)
		}
	}
	for _, name := range e.Headers.Removed {
		if !slices.Contains(ans.RemoveHeaders, strings.ToLower(name)) {
			out = append(out, fmt.Sprintf("headers.removed: %s is not removed (removed: %s)", name, listOrNone(ans.RemoveHeaders)))
		}
	}
	for _, name := range e.Headers.NotSet {
		if got, ok := set[strings.ToLower(name)]; ok {
			out = append(out, fmt.Sprintf("headers.not_set: %s is set to %q", name, got))
		}
	}
	resp := map[string]string{}
	for _, h := range ans.Header {
		resp[strings.ToLower(h.Name)] = h.Value
	}
	for _, name := range sortedKeys(e.ResponseHeaders) {
		want := e.ResponseHeaders[name]
		if got, ok := resp[strings.ToLower(name)]; !ok {
			out = append(out, fmt.Sprintf("response_headers.%s: not sent, want %q", name, want))
		} else if got != want {
			mismatch("response_headers."+name, got, want)
		}
	}
	if e.ResponseBodyContains != "" && !strings.Contains(string(ans.Body), e.ResponseBodyContains) {
		out = append(out, fmt.Sprintf("response body: got %q, want it to contain %q", ans.Body, e.ResponseBodyContains))
	}
	if len(out) > 0 && d.Detail != "" && e.DetailContains == "" {
		// The detail says why a request was denied; it never holds a
		// secret, a signature or body bytes.
		out = append(out, "(detail: "+d.Detail+")")
	}
	return out
}

func show(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
