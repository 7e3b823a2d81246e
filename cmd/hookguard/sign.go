package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/policy"
	"github.com/hookguard/hookguard/authz/verify"
)

func sign(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scheme := fs.String("scheme", "", fmt.Sprintf("signature scheme: %v", verify.Schemes()))
	secretEnv := fs.String("secret-env", "", "environment variable holding the secret")
	secretFile := fs.String("secret-file", "", "file holding the secret (one trailing newline ignored)")
	bodyFile := fs.String("body-file", "", `file holding the body; "-" reads standard input`)
	id := fs.String("id", "", "delivery id (default: a random UUID)")
	keyFile := fs.String("private-key-file", "", "file holding the private key, for discord, sendgrid, standard_webhooks (v1a) and http_message_signatures")
	rawURL := fs.String("url", "", "URL the provider requests, for twilio, square (the notification URL) and http_message_signatures")
	contentType := fs.String("content-type", "", "media type of the body; twilio signs the parameters of application/x-www-form-urlencoded")
	keyID := fs.String("key-id", "", "keyid, for http_message_signatures")
	if err := parseFlags(fs, args); err != nil {
		return 2
	}
	if fs.NArg() == 1 && fs.Arg(0) == "-" && *bodyFile == "" {
		*bodyFile = "-"
	}
	keySources := 0
	for _, s := range []string{*secretEnv, *secretFile, *keyFile} {
		if s != "" {
			keySources++
		}
	}
	if *scheme == "" || keySources != 1 || *bodyFile == "" {
		fmt.Fprintln(stderr, "usage: hookguard sign --scheme S (--secret-env VAR | --secret-file F | --private-key-file F) [--url U] [--content-type T] [--key-id K] (--body-file F | -)")
		return 2
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
	headers, err := verify.Sign(*scheme, secret, msg)
	if err != nil {
		fmt.Fprintln(stderr, "hookguard sign:", err)
		return 2
	}
	for _, h := range headers {
		fmt.Fprintf(stdout, "%s: %s\n", h.Name, h.Value)
	}
	return 0
}

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
