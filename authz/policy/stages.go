package policy

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go4.org/netipx"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

// defaults is the directory's defaults block and the file it came from.
type defaults struct {
	file  string
	block *policyv1.Defaults
}

// pendingStages is an endpoint whose stage blocks compile once every file,
// and so the defaults, have been read.
type pendingStages struct {
	file, label string
	proto       *policyv1.Endpoint
	endpoint    *authz.Endpoint
}

// defaultsBlock decodes a file's defaults block.
func (c *compiler) defaultsBlock(file string, raw json.RawMessage) {
	report := func(field, msg string) {
		c.errs = append(c.errs, &Diagnostic{File: file, Field: joinPath("defaults", field), Message: msg})
	}
	if c.defaults != nil {
		report("", "defaults already set in "+c.defaults.file+"; a directory has one defaults block")
		return
	}
	before := len(c.errs)
	var d policyv1.Defaults
	err := decodeChecked(raw, &d, report)
	if len(c.errs) > before {
		return
	}
	if err != nil {
		report("", protojsonMessage(err))
		return
	}
	c.defaults = &defaults{file: file, block: &d}
}

// compileStages compiles every endpoint's stage blocks: the endpoint's own
// block of a stage when it sets one, else the default. A default block's
// errors are reported once, against the defaults, not for every endpoint.
func (c *compiler) compileStages() {
	def, defFile := (*policyv1.Defaults)(nil), ""
	if c.defaults != nil {
		def, defFile = c.defaults.block, c.defaults.file
		report := func(field, msg string) {
			c.errs = append(c.errs, &Diagnostic{File: defFile, Field: joinPath("defaults", field), Message: msg})
		}
		var scratch authz.Endpoint
		c.stageSource(defFile, &scratch, def.GetSource(), report)
		c.stageIdentity(&scratch, def.GetClientIdentity(), report)
		c.stageRateLimit(&scratch, def.GetRateLimit(), report)
		c.stagePayload(defFile, &scratch, def.GetPayload(), report)
	}
	quiet := func(string, string) {}
	for _, p := range c.pending {
		report := func(field, msg string) {
			c.errs = append(c.errs, &Diagnostic{File: p.file, Endpoint: p.label, Field: field, Message: msg})
		}
		m := p.proto.ProtoReflect()
		own := func(name protoreflect.Name) bool { return m.Has(m.Descriptor().Fields().ByName(name)) }

		src, file, r := p.proto.GetSource(), p.file, report
		if !own("source") {
			src, file, r = def.GetSource(), defFile, quiet
		}
		c.stageSource(file, p.endpoint, src, r)

		id, r := p.proto.GetClientIdentity(), report
		if !own("client_identity") {
			id, r = def.GetClientIdentity(), quiet
		}
		c.stageIdentity(p.endpoint, id, r)

		rl, r := p.proto.GetRateLimit(), report
		if !own("rate_limit") {
			rl, r = def.GetRateLimit(), quiet
		}
		c.stageRateLimit(p.endpoint, rl, r)

		pl, file, r := p.proto.GetPayload(), p.file, report
		if !own("payload") {
			pl, file, r = def.GetPayload(), defFile, quiet
		}
		c.stagePayload(file, p.endpoint, pl, r)
	}
}

// stageSource compiles a source block into e.Source.
func (c *compiler) stageSource(file string, e *authz.Endpoint, s *policyv1.Source, report func(field, msg string)) {
	if s == nil {
		return
	}
	var allow, deny netipx.IPSetBuilder
	hasAllow := len(s.GetAllowCidrs()) > 0 || len(s.GetIpLists()) > 0
	for i, cidr := range s.GetAllowCidrs() {
		if p, err := parseCIDR(cidr); err != nil {
			report(fmt.Sprintf("source.allow_cidrs[%d]", i), err.Error())
		} else {
			allow.AddPrefix(p)
		}
	}
	for i, cidr := range s.GetDenyCidrs() {
		if p, err := parseCIDR(cidr); err != nil {
			report(fmt.Sprintf("source.deny_cidrs[%d]", i), err.Error())
		} else {
			deny.AddPrefix(p)
		}
	}
	for _, name := range sortedKeys(s.GetIpLists()) {
		prefixes, err := c.readIPList(resolvePath(file, s.GetIpLists()[name]))
		if err != nil {
			report("source.ip_lists."+name, err.Error())
			continue
		}
		for _, p := range prefixes {
			allow.AddPrefix(p)
		}
	}
	sp := &authz.SourcePolicy{}
	if hasAllow {
		sp.Allow, _ = allow.IPSet()
	}
	if len(s.GetDenyCidrs()) > 0 {
		sp.Deny, _ = deny.IPSet()
	}
	if sp.Allow == nil && sp.Deny == nil {
		return // source: {} — no restriction
	}
	e.Source = sp
}

// parseCIDR parses a CIDR or a bare address (a single host).
func parseCIDR(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid address %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// readIPList reads a list file: one CIDR or address a line, '#' comments.
func (c *compiler) readIPList(path string) ([]netip.Prefix, error) {
	data, err := c.data.read(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read IP list %s: %v", path, errorWithoutPath(err))
	}
	var out []netip.Prefix
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		if text = strings.TrimSpace(text); text == "" {
			continue
		}
		p, err := parseCIDR(text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		out = append(out, p)
	}
	return out, sc.Err()
}

// stageIdentity compiles a client_identity block into e.Identity.
func (c *compiler) stageIdentity(e *authz.Endpoint, ci *policyv1.ClientIdentity, report func(field, msg string)) {
	if ci == nil || ci.GetDisabled() {
		return
	}
	ip := &authz.IdentityPolicy{
		Principals:        ci.GetPrincipals(),
		PrincipalPrefixes: ci.GetPrincipalPrefixes(),
		URISANs:           ci.GetUriSans(),
	}
	for i, td := range ci.GetTrustDomains() {
		if td == "" || strings.ContainsAny(td, ":/") {
			report(fmt.Sprintf("client_identity.trust_domains[%d]", i), `a trust domain is a name such as "example.org", without "spiffe://"`)
			continue
		}
		ip.TrustDomains = append(ip.TrustDomains, strings.ToLower(td))
	}
	for _, name := range ci.GetDnsSans() {
		ip.DNSSANs = append(ip.DNSSANs, strings.ToLower(name))
	}
	for i, fp := range ci.GetSha256Fingerprints() {
		b, err := hex.DecodeString(strings.ReplaceAll(fp, ":", ""))
		if err != nil || len(b) != sha256.Size {
			report(fmt.Sprintf("client_identity.sha256_fingerprints[%d]", i), "must be 64 hex digits (colons allowed)")
			continue
		}
		if ip.Fingerprints == nil {
			ip.Fingerprints = map[[sha256.Size]byte]struct{}{}
		}
		ip.Fingerprints[[sha256.Size]byte(b)] = struct{}{}
	}
	for field, list := range map[string][]string{"principals": ip.Principals, "principal_prefixes": ip.PrincipalPrefixes, "uri_sans": ip.URISANs, "dns_sans": ip.DNSSANs} {
		if slices.Contains(list, "") {
			report("client_identity."+field, "empty entry")
		}
	}
	e.Identity = ip
}

// stageRateLimit compiles a rate_limit block into e.RateLimit.
func (c *compiler) stageRateLimit(e *authz.Endpoint, rl *policyv1.RateLimit, report func(field, msg string)) {
	if rl == nil || rl.GetDisabled() {
		return
	}
	perSecond, err := parseRate(rl.GetRate())
	if err != nil {
		report("rate_limit.rate", err.Error())
		return
	}
	p := &authz.RateLimitPolicy{Limit: authz.Limit{Rate: perSecond, Burst: int(rl.GetBurst()), MaxKeys: int(rl.GetMaxKeys())}}
	if p.Limit.Burst == 0 {
		p.Limit.Burst = max(1, int(perSecond+0.999))
	}
	for _, per := range rl.GetPer() {
		switch per {
		case policyv1.RateLimit_SOURCE:
			p.PerSource = true
		case policyv1.RateLimit_ENDPOINT:
			p.PerEndpoint = true
		}
	}
	if len(rl.GetPer()) == 0 {
		p.PerSource = true
	}
	if p.Limit.MaxKeys > maxRateLimitKeys {
		report("rate_limit.max_keys", "at most "+strconv.Itoa(maxRateLimitKeys))
	}
	if f := rl.GetFailures(); !f.GetDisabled() {
		failures := p.Limit
		if f.GetRate() != "" {
			perSecond, err := parseRate(f.GetRate())
			if err != nil {
				report("rate_limit.failures.rate", err.Error())
				return
			}
			failures.Rate, failures.Burst = perSecond, max(1, int(perSecond+0.999))
		}
		if f.GetBurst() != 0 {
			failures.Burst = int(f.GetBurst())
		}
		p.Failures = &failures
	}
	e.RateLimit = p
}

// maxRateLimitKeys bounds rate_limit.max_keys: some 200 bytes a bucket.
const maxRateLimitKeys = 10_000_000

// maxRate bounds the N of a rate, far above any webhook sender.
const maxRate = 1_000_000

// parseRate parses "N/s", "N/m" or "N/h" into a rate per second.
func parseRate(s string) (float64, error) {
	num, unit, ok := strings.Cut(strings.ReplaceAll(s, " ", ""), "/")
	n, err := strconv.ParseFloat(num, 64)
	if s == "" {
		return 0, fmt.Errorf(`required, e.g. "10/s" or "600/m"`)
	}
	// ParseFloat takes "NaN" and "Inf" too, which no token bucket can use.
	if !ok || err != nil || !(n > 0) || math.IsInf(n, 0) || n > maxRate {
		return 0, fmt.Errorf(`invalid rate %q: use N/s, N/m or N/h with 0 < N <= %d`, s, maxRate)
	}
	per := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[unit]
	if per == 0 {
		return 0, fmt.Errorf(`invalid rate %q: the unit is s, m or h`, s)
	}
	return n / per.Seconds(), nil
}

// stagePayload compiles a payload block into e.Payload, compiling its
// schemas now so a request never waits for one.
func (c *compiler) stagePayload(file string, e *authz.Endpoint, pl *policyv1.Payload, report func(field, msg string)) {
	if pl == nil {
		return
	}
	p := &authz.PayloadPolicy{MaxBytes: int64(pl.GetMaxBytes()), JSON: pl.GetJson(), MaxDepth: int(pl.GetMaxDepth())}
	if pl.GetMaxDepth() > 1000 {
		report("payload.max_depth", "at most 1000")
	}
	for i, ct := range pl.GetContentTypes() {
		ct = strings.ToLower(strings.TrimSpace(ct))
		if typ, sub, ok := strings.Cut(ct, "/"); !ok || typ == "" || sub == "" || strings.ContainsAny(ct, "; ") {
			report(fmt.Sprintf("payload.content_types[%d]", i), `must be a media type such as "application/json", without parameters`)
			continue
		}
		p.ContentTypes = append(p.ContentTypes, ct)
	}
	if s := pl.GetSchemas(); s != nil {
		set := &authz.SchemaSet{Header: strings.ToLower(s.GetHeader())}
		if set.Header != "" && !headerName.MatchString(set.Header) {
			report("payload.schemas.header", "must be a header name")
		}
		if len(s.GetByValue()) > 0 && set.Header == "" {
			report("payload.schemas.by_value", "needs payload.schemas.header")
		}
		compiler := jsonschema.NewCompiler()
		compiled := map[string]*jsonschema.Schema{}
		compile := func(field, path string) *jsonschema.Schema {
			abs := resolvePath(file, path)
			if sch, ok := compiled[abs]; ok {
				return sch
			}
			// Read it here, recorded, so a watcher reloads when it changes;
			// the compiler resolves it from the resource added.
			raw, err := c.data.read(abs)
			if err != nil {
				report(field, "schema "+path+": "+errorWithoutPath(err))
				return nil
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
			if err == nil {
				err = compiler.AddResource(abs, doc)
			}
			var sch *jsonschema.Schema
			if err == nil {
				sch, err = compiler.Compile(abs)
			}
			if err != nil {
				report(field, "schema "+path+": "+strings.Join(strings.Fields(err.Error()), " "))
				return nil
			}
			compiled[abs] = sch
			return sch
		}
		for _, v := range sortedKeys(s.GetByValue()) {
			if set.ByValue == nil {
				set.ByValue = map[string]*jsonschema.Schema{}
			}
			set.ByValue[v] = compile("payload.schemas.by_value."+v, s.GetByValue()[v])
		}
		if d := s.GetDefault(); d != "" {
			set.Default = compile("payload.schemas.default", d)
		}
		if len(set.ByValue) == 0 && set.Default == nil {
			report("payload.schemas", "set by_value or default")
		}
		p.Schemas = set
	}
	e.Payload = p
}

// dataFiles reads and records the non-secret files a policy set references,
// hashing their contents so a reload can tell when one changed.
type dataFiles struct {
	files []string
	sum   hash.Hash
}

func (d *dataFiles) read(path string) ([]byte, error) {
	if d.sum == nil {
		d.sum = sha256.New()
	}
	if !slices.Contains(d.files, path) {
		d.files = append(d.files, path)
	}
	b, err := os.ReadFile(path)
	fmt.Fprintf(d.sum, "%s\x00%d\x00", path, len(b))
	d.sum.Write(b)
	return b, err
}

// digest is the hash of what read returned; zero when nothing was read.
func (d *dataFiles) digest() (out [sha256.Size]byte) {
	if d.sum != nil {
		copy(out[:], d.sum.Sum(nil))
	}
	return out
}

// resolvePath makes path relative to the directory of the file naming it.
func resolvePath(file, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(filepath.Dir(file), path)
}
