// Package redact hides credentials in whatever wavectl writes or prints:
// command lines, URLs, error messages and environments. It is the one
// place that knows what a secret looks like, so that the state file, its
// journal and backup, the lock, reports, logs and hooks all agree.
package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask is what a hidden value is replaced with.
const Mask = "***"

// secretName matches the names of flags, settings and environment
// variables whose value is a secret: password, passwd, secret, token.
var secretName = regexp.MustCompile(`(?i)(password|passwd|passphrase|secret|token)`)

// URL hides the password of a user:password@ part of s, one URL with or
// without a scheme, alone or after a NAME= ("https://u:p@host/sdk",
// "u:p@host", "crown=https://u:p@host", "--url=u:p@host"). The user name
// is kept: it says who, not how. The password runs to the last '@' of s,
// as url.Parse reads it, so a password holding '@', ':' or '/' (or
// anything else) is hidden whole; a text with an '@' and no ':' before it
// (an e-mail address) is left alone.
func URL(s string) string { return userinfo(s, true) }

// userinfo is URL; when whole is false, s is a word of a free text, where
// a URL ends at a character that cannot be in one (a quote, an angle
// bracket, a brace), and every URL with a scheme in it is masked.
func userinfo(s string, whole bool) string {
	if !strings.Contains(s, "@") {
		return s
	}
	if !strings.Contains(s, "://") {
		start := 0
		if i := strings.IndexByte(s, '='); i >= 0 && i < strings.IndexByte(s+":", ':') {
			start = i + 1
		}
		for !whole && start < len(s) && strings.IndexByte(urlEnd, s[start]) >= 0 {
			start++ // an opening quote
		}
		return maskUserinfo(s, start, whole)
	}
	for from := 0; ; {
		i := strings.Index(s[from:], "://")
		if i < 0 {
			return s
		}
		start := from + i + 3
		s = maskUserinfo(s, start, whole)
		if whole {
			return s
		}
		from = start
	}
}

// urlEnd are the characters that cannot be in a URL's user information
// (url.Parse refuses them) and so end a URL in a free text.
const urlEnd = "\"'<>{}`\t\n\r "

// maskUserinfo replaces the password of a user:password@ beginning at
// s[start] with Mask.
func maskUserinfo(s string, start int, whole bool) string {
	end := len(s)
	if i := strings.IndexAny(s[start:], urlEnd); i >= 0 && !whole {
		end = start + i
	}
	at := strings.LastIndexByte(s[start:end], '@')
	if at < 0 {
		return s
	}
	at += start
	colon := strings.IndexByte(s[start:at], ':')
	if colon < 0 || s[start+colon+1:at] == Mask {
		return s
	}
	return s[:start+colon+1] + Mask + s[at:]
}

// WithoutPassword is a URL with its password dropped rather than masked
// (user:pw@ becomes user@, a password= query parameter goes), so that the
// URL still works where the password comes from elsewhere (PGPASSWORD,
// ~/.pgpass): for the commands wavectl suggests. A URL that does not
// parse is not shown at all.
func WithoutPassword(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(a URL that does not parse)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	if q := u.Query(); q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Text hides URL passwords in a free text (a message, a log line): in
// every whitespace-separated word, each URL ends where a URL cannot go on.
func Text(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexFunc(s, isSpace)
		if i < 0 {
			i = len(s)
		}
		b.WriteString(userinfo(s[:i], false))
		j := i
		for j < len(s) && isSpace(rune(s[j])) {
			j++
		}
		b.WriteString(s[i:j])
		s = s[j:]
	}
	return b.String()
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

// String hides every secret in a free text (an error message, a log line,
// a hook's output): URL passwords and --password VALUE / --password=VALUE,
// PASSWORD=VALUE assignments.
func String(s string) string {
	s = Text(s)
	if !secretName.MatchString(s) {
		return s
	}
	return assignment.ReplaceAllStringFunc(s, func(m string) string {
		sub := assignment.FindStringSubmatch(m)
		return sub[1] + Mask
	})
}

// assignment matches NAME=VALUE, NAME: VALUE and --name VALUE where NAME
// names a secret.
var assignment = regexp.MustCompile(`(?i)(--[A-Za-z0-9_.-]*(?:password|passwd|passphrase|secret|token)[A-Za-z0-9_.-]*[ \t]+|\b[A-Za-z0-9_.-]*(?:password|passwd|passphrase|secret|token)[A-Za-z0-9_.-]*"?(?:=|:[ \t]*)"?)([^\s'",;})&]+)`)

// Args is a command line with its secrets hidden: the value of every
// password, secret or token flag (--password VALUE, --password=VALUE,
// --db-token VALUE) and the password of every URL, whatever flag carries
// it (--url=, --vcenter NAME=, a plain argument).
func Args(args []string) []string {
	if args == nil {
		return nil
	}
	out := make([]string, len(args))
	hide := false
	for i, a := range args {
		switch {
		case hide:
			a, hide = Mask, false
		case isSecretFlag(a):
			hide = true
		default:
			if k, _, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "-") && isSecretFlag(k) {
				a = k + "=" + Mask
			}
			a = String(URL(a)) // and a password=VALUE inside (a query)
		}
		out[i] = a
	}
	return out
}

func isSecretFlag(a string) bool {
	return flagName.MatchString(a) && secretName.MatchString(a)
}

// flagName is what a flag looks like: -x, --db-token, --api_secret.
var flagName = regexp.MustCompile(`^--?[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// SecretEnv reports whether an environment variable holds a secret that a
// child process (a hook) must not see: any *PASSWORD*, *SECRET*, *TOKEN*
// of wavectl's and govc's own (WAVECTL_*, GOVC_*), and PGPASSWORD.
func SecretEnv(key string) bool {
	k := strings.ToUpper(key)
	if k == "PGPASSWORD" {
		return true
	}
	if !strings.HasPrefix(k, "WAVECTL_") && !strings.HasPrefix(k, "GOVC_") {
		return false
	}
	return secretName.MatchString(k)
}

// Env is an environment (KEY=VALUE pairs) fit to hand to a child process:
// secret variables (see SecretEnv) are dropped, and a password in any
// other value (GOVC_URL=https://user:pw@host) is hidden.
func Env(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if SecretEnv(k) {
			continue
		}
		if strings.Contains(v, "@") {
			kv = k + "=" + URL(v)
		}
		out = append(out, kv)
	}
	return out
}
