package main

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/policy"
	"github.com/hookguard/hookguard/authz/verify"
)

func sign(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newSubcommand("sign", "(--scheme S | --provider NAME) (--secret-env VAR | --secret-file F | --private-key-file F) [flags] (--body-file F | -)",
		"Print the headers the scheme's provider, or the catalog's provider NAME, would send\nwith the body, signed with the secret (or private key), one \"Name: value\" a line,\nfor curl -H @FILE. For a provider that signs in the body (mailgun), print the\nsigned body instead; for one that signs in the URL, the URL to request.",
		stdout, stderr)
	scheme := fs.String("scheme", "", fmt.Sprintf("signature scheme: %v", verify.Schemes()))
	provider := fs.String("provider", "", "a provider of the catalog (hookguard providers), instead of --scheme")
	version := fs.String("version", "", "with --provider, a signature version other than the newest")
	secretEnv := fs.String("secret-env", "", "environment variable holding the secret")
	secretFile := fs.String("secret-file", "", "file holding the secret (one trailing newline ignored)")
	bodyFile := fs.String("body-file", "", `file holding the body; "-" reads standard input`)
	id := fs.String("id", "", "delivery id (default: a random UUID)")
	keyFile := fs.String("private-key-file", "", "file holding the private key, for discord, sendgrid, standard_webhooks (v1a) and http_message_signatures")
	rawURL := fs.String("url", "", "URL the provider requests, for twilio, square (the notification URL) and http_message_signatures")
	contentType := fs.String("content-type", "", "media type of the body; twilio signs the parameters of application/x-www-form-urlencoded")
	keyID := fs.String("key-id", "", "keyid, for http_message_signatures")
	policies := fs.String("policies", "", "policy directory, for the generic hmac scheme, whose format the endpoint defines")
	endpoint := fs.String("endpoint", "", "endpoint of --policies, for the generic hmac scheme")
	rest, err := fs.parse(args)
	if err == nil && len(rest) == 1 && rest[0] == "-" && *bodyFile == "" {
		*bodyFile, rest = "-", nil
	}
	keySources := 0
	for _, s := range []string{*secretEnv, *secretFile, *keyFile} {
		if s != "" {
			keySources++
		}
	}
	switch {
	case err != nil:
	case len(rest) > 0:
		err = fs.errorf("unexpected argument %q (the body is --body-file F, or - for standard input)", rest[0])
	case *scheme == "" && *provider == "":
		err = fs.errorf("missing --scheme or --provider")
	case *scheme != "" && *provider != "":
		err = fs.errorf("give --scheme or --provider, not both")
	case *version != "" && *provider == "":
		err = fs.errorf("--version goes with --provider")
	case keySources == 0:
		err = fs.errorf("missing the key: give --secret-env, --secret-file or --private-key-file")
	case keySources > 1:
		err = fs.errorf("give one of --secret-env, --secret-file and --private-key-file")
	case *bodyFile == "":
		err = fs.errorf("missing the body: give --body-file F, or - to read standard input")
	}
	if err != nil {
		return fs.exit(err)
	}
	if *keyFile != "" {
		*secretFile = *keyFile
	}
	secret, err := readSecret(*secretEnv, *secretFile)
	if err != nil {
		fmt.Fprintln(stderr, "hookguard sign:", err)
		return 1
	}
	var body []byte
	if *bodyFile == "-" {
		body, err = io.ReadAll(stdin)
	} else {
		body, err = os.ReadFile(*bodyFile)
	}
	if err != nil {
		fmt.Fprintln(stderr, "hookguard sign:", err)
		return 1
	}
	msg := verify.Message{Body: body, ID: *id, URL: *rawURL, ContentType: *contentType, KeyID: *keyID}
	if *provider != "" {
		d, err := verify.SignProvider(*provider, *version, secret, msg)
		if err != nil {
			fmt.Fprintln(stderr, "hookguard sign:", err)
			return 2
		}
		printDelivery(stdout, d, msg)
		return 0
	}
	if *scheme == "mailgun" {
		// Mailgun signs in the body: print the body with its signature
		// object, to send as is.
		signed, err := verify.SignMailgunBody(secret, msg)
		if err != nil {
			fmt.Fprintln(stderr, "hookguard sign:", err)
			return 2
		}
		stdout.Write(append(signed, '\n'))
		return 0
	}
	var headers []authz.HeaderValue
	if *scheme == "hmac" {
		headers, err = signHMAC(*policies, *endpoint, secret, msg)
	} else {
		headers, err = verify.Sign(*scheme, secret, msg)
	}
	if err != nil {
		fmt.Fprintln(stderr, "hookguard sign:", err)
		return 2
	}
	for _, h := range headers {
		fmt.Fprintf(stdout, "%s: %s\n", h.Name, h.Value)
	}
	return 0
}

// signHMAC signs for a generic hmac endpoint: its header, encoding and
// signed content are in the policy, so the endpoint is compiled with secret
// standing for each of its secret references.
func signHMAC(dir, name string, secret authz.Secret, m verify.Message) ([]authz.HeaderValue, error) {
	if dir == "" || name == "" {
		return nil, fmt.Errorf("the hmac scheme's format is in the policy: give --policies DIR and --endpoint NAME")
	}
	res, err := policy.Load(dir, policy.Options{Secrets: sameSecret(secret), Only: name})
	if err != nil {
		return nil, err
	}
	e := res.Policy.Endpoint(name)
	if e == nil {
		return nil, fmt.Errorf("no endpoint %q in %s", name, dir)
	}
	h, ok := e.Verifier.(*verify.HMAC)
	if !ok {
		return nil, fmt.Errorf("endpoint %q uses scheme %s, not hmac", name, e.Verifier.Scheme())
	}
	return h.Sign(m)
}

// sameSecret answers every secret reference with one secret.
type sameSecret authz.Secret

func (s sameSecret) LookupEnv(string) (string, bool) { return string(s), true }
func (s sameSecret) ReadFile(string) ([]byte, error) { return []byte(s), nil }

func readSecret(env, file string) (authz.Secret, error) {
	if env != "" {
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return nil, fmt.Errorf("environment variable %s is not set", env)
		}
		return authz.Secret(v), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	secret := policy.FileSecret(b)
	if len(secret) == 0 {
		return nil, fmt.Errorf("secret file %s is empty", file)
	}
	return secret, nil
}

// printDelivery prints what a provider sends: the signed body when the
// signature is in it, the URL when the signature is in it, else the headers.
func printDelivery(w io.Writer, d verify.Delivery, m verify.Message) {
	switch {
	case !bytes.Equal(d.Body, m.Body):
		w.Write(append(d.Body, '\n'))
	case d.URL != m.URL:
		fmt.Fprintln(w, d.URL)
	}
	for _, h := range d.Headers {
		fmt.Fprintf(w, "%s: %s\n", h.Name, h.Value)
	}
}
