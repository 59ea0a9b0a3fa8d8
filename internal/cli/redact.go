package cli

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
)

// Secrets must never reach a terminal or a log: URLs carry them in their
// user information (redis://:password@host, nats://token@host) and in
// query parameters (?authorization=token), and herd prints URLs in its
// errors. These helpers mask them, whether or not the URL parses: a URL
// that does not parse is precisely the one an error message shows.

// secretParams are the query parameters whose values are masked.
var secretParams = regexp.MustCompile(`(?i)([?&](?:authorization|access_token|token|jwt|key|password|secret)=)[^&#\s"]*`)

const masked = "xxxxx"

// redact masks the credentials in s, a URL or a text holding URLs: a
// password (user:xxxxx@), user information without one (which may be a
// token: xxxxx@), and the values of query parameters that hold secrets.
// The user information is everything up to the last @ before the path,
// spaces included: a URL that does not parse may have any.
func redact(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i+3])
		s = s[i+3:]
		end := strings.IndexAny(s, "/?#\"\n")
		if end < 0 {
			end = len(s)
		}
		at := strings.LastIndex(s[:end], "@")
		if at < 0 {
			continue
		}
		if user, _, ok := strings.Cut(s[:at], ":"); ok {
			b.WriteString(user + ":")
		}
		b.WriteString(masked + "@")
		s = s[at+1:]
	}
	return secretParams.ReplaceAllString(b.String(), "${1}"+masked)
}

// redactErr masks the credentials in an error's URL, for errors of
// net/http's client (which strips passwords, not query tokens).
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = redact(ue.URL)
	}
	return err
}
