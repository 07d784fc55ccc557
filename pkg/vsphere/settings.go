package vsphere

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/rs/zerolog"
	"github.com/vmware/govmomi/vim25/soap"

	"github.com/wavectl/wavectl/pkg/input"
	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/redact"
)

// Settings is how to reach and log in to one vCenter. It holds a password:
// String, GoString, MarshalJSON, LogValue and MarshalZerologObject all
// print it as "***", so that a Settings can be printed or logged whole.
type Settings struct {
	// URL is the SDK endpoint (https://vc.example/sdk), never with a
	// user:password@ part.
	URL      string
	Username string
	Password string
	// Insecure skips certificate verification (labs only).
	Insecure bool
	// Thumbprint is the SHA-1 or SHA-256 fingerprint of the vCenter's
	// certificate, upper-case hex with colons: it trusts that certificate
	// without a CA.
	Thumbprint string
	// CAFile is a PEM file (or a list, with the OS path-list separator) of
	// CA certificates to verify the vCenter's certificate with.
	CAFile string
	// Origin says where each value came from, for messages.
	Origin Origin
}

// Origin names where a Settings value came from ("--url", "GOVC_URL",
// "the plan (vcenters.crown.url)"), so that an error can say which setting
// to fix. Empty when the value was not given.
type Origin struct {
	URL, Username, Password, Trust string
}

const redacted = "***"

// Redacted returns a copy whose password, if any, is "***".
func (s Settings) Redacted() Settings {
	if s.Password != "" {
		s.Password = redacted
	}
	return s
}

// String describes the settings without the password.
func (s Settings) String() string {
	var b strings.Builder
	b.WriteString(s.URL)
	if s.Username != "" {
		fmt.Fprintf(&b, " as %s", s.Username)
	}
	if s.Password != "" {
		b.WriteString(" (password " + redacted + ")")
	}
	switch {
	case s.Insecure:
		b.WriteString(", certificate not verified")
	case s.Thumbprint != "":
		b.WriteString(", thumbprint " + s.Thumbprint)
	case s.CAFile != "":
		b.WriteString(", CA file " + s.CAFile)
	}
	return b.String()
}

// GoString keeps %#v from printing the password.
func (s Settings) GoString() string {
	r := s.Redacted()
	return fmt.Sprintf("vsphere.Settings{URL:%q, Username:%q, Password:%q, Insecure:%t, Thumbprint:%q, CAFile:%q}",
		r.URL, r.Username, r.Password, r.Insecure, r.Thumbprint, r.CAFile)
}

// MarshalJSON writes the settings with the password redacted.
func (s Settings) MarshalJSON() ([]byte, error) {
	r := s.Redacted()
	return json.Marshal(struct {
		URL        string `json:"url"`
		Username   string `json:"username,omitempty"`
		Password   string `json:"password,omitempty"`
		Insecure   bool   `json:"insecure,omitempty"`
		Thumbprint string `json:"thumbprint,omitempty"`
		CAFile     string `json:"caFile,omitempty"`
	}{r.URL, r.Username, r.Password, r.Insecure, r.Thumbprint, r.CAFile})
}

// LogValue is for log/slog.
func (s Settings) LogValue() slog.Value {
	r := s.Redacted()
	return slog.GroupValue(slog.String("url", r.URL), slog.String("username", r.Username),
		slog.String("password", r.Password), slog.Bool("insecure", r.Insecure),
		slog.String("thumbprint", r.Thumbprint), slog.String("caFile", r.CAFile))
}

// MarshalZerologObject is for zerolog's Object.
func (s Settings) MarshalZerologObject(e *zerolog.Event) {
	r := s.Redacted()
	e.Str("url", r.URL).Str("username", r.Username).Str("password", r.Password).Bool("insecure", r.Insecure)
	if r.Thumbprint != "" {
		e.Str("thumbprint", r.Thumbprint)
	}
	if r.CAFile != "" {
		e.Str("caFile", r.CAFile)
	}
}

// Values is one layer of connection settings: the command-line flags the
// user gave, or the config file. An empty string or a nil Insecure means
// "not given in this layer".
type Values struct {
	URL, Username, Password string
	Insecure                *bool
	Thumbprint, CAFile      string
	// VCenters are NAME=URL overrides for single vCenters (--vcenter).
	VCenters map[string]string
}

// Sources are the places connection settings come from, highest first:
// Flags, then the environment (WAVECTL_* before GOVC_*), then Config, then
// the plan. Env is injected so that tests need not touch the process's
// environment; nil means an empty environment.
type Sources struct {
	Flags  Values
	Env    func(key string) (string, bool)
	Config Values
	// AllowHTTP accepts http:// vCenter URLs (--insecure-http): the
	// login, password included, then crosses the network in clear text.
	AllowHTTP bool
}

func (src Sources) env(key string) string {
	if src.Env == nil {
		return ""
	}
	v, _ := src.Env(key)
	return v
}

// SettingsError is a connection setting that is missing or malformed. The
// message says which setting to give and how.
type SettingsError struct {
	VCenter string // empty when the problem is not tied to one vCenter
	Msg     string
}

func (e *SettingsError) Error() string { return e.Msg }

// EnvName is the part of WAVECTL_VCENTER_<NAME>_* that names a vCenter:
// its name upper-cased, with every character other than a letter or a
// digit (dashes, dots) turned into an underscore.
func EnvName(vcenter string) string {
	b := []byte(strings.ToUpper(vcenter))
	for i, c := range b {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// EnvPrefix is WAVECTL_VCENTER_<NAME>_ for a vCenter's own variables.
func EnvPrefix(vcenter string) string { return "WAVECTL_VCENTER_" + EnvName(vcenter) + "_" }

// candidate is one possible value and where it came from.
type candidate struct{ value, from string }

func first(cs ...candidate) candidate {
	for _, c := range cs {
		if c.value != "" {
			return c
		}
	}
	return candidate{}
}

// Resolve works out, for every vCenter in the plan, the URL, credentials
// and certificate trust to use.
//
// The URL is, in order: --vcenter NAME=URL, WAVECTL_VCENTER_<NAME>_URL, a
// NAME=URL under vcenter in the config file; then, standing in for every
// vCenter without such an override, --url, WAVECTL_URL, GOVC_URL, url in
// the config file; then the plan's url. A user:password@ part of the
// chosen URL (govc allows one in GOVC_URL) is taken out of it and used as
// credentials after the named settings.
//
// The username (and likewise the password) is, in order:
// WAVECTL_VCENTER_<NAME>_USERNAME, --username, WAVECTL_USERNAME,
// GOVC_USERNAME (a file name there is read, as govc does), the URL's user
// part, username in the config file.
//
// Certificates are verified unless insecure is asked for: --insecure,
// WAVECTL_INSECURE, GOVC_INSECURE (1 or true), the config file, the plan.
// The thumbprint is WAVECTL_VCENTER_<NAME>_THUMBPRINT, --thumbprint,
// WAVECTL_THUMBPRINT, the URL's host in the GOVC_TLS_KNOWN_HOSTS file, the
// config file, the plan; the CA file --ca-file, WAVECTL_CA_FILE,
// GOVC_TLS_CA_CERTS, the config file, the plan. The plan's thumbprint,
// caFile and insecure describe the plan's own URL: they apply only while
// the URL in use points at the same host and port.
//
// Every problem found is returned, joined, as *SettingsError values.
func Resolve(p *plan.Plan, src Sources) (map[string]Settings, error) {
	names := make([]string, 0, len(p.VCenters))
	for n := range p.VCenters {
		names = append(names, n)
	}
	sort.Strings(names)

	var errs []error
	for _, layer := range []struct {
		m    map[string]string
		from string
	}{{src.Flags.VCenters, "--vcenter"}, {src.Config.VCenters, "vcenter in the config file"}} {
		var unknown []string
		for n := range layer.m {
			if _, ok := p.VCenters[n]; !ok {
				unknown = append(unknown, n)
			}
		}
		sort.Strings(unknown)
		for _, n := range unknown {
			errs = append(errs, &SettingsError{VCenter: n, Msg: fmt.Sprintf(
				"%s %s=...: the plan has no vCenter %q; use one of: %s", layer.from, n, n, strings.Join(names, ", "))})
		}
	}

	out := make(map[string]Settings, len(names))
	for _, name := range names {
		s, err := resolveOne(name, p.VCenters[name], src)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[name] = s
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func resolveOne(name string, vc plan.VCenter, src Sources) (Settings, error) {
	pre := EnvPrefix(name)
	fail := func(format string, args ...any) (Settings, error) {
		return Settings{}, &SettingsError{VCenter: name, Msg: fmt.Sprintf(format, args...)}
	}

	planFrom := fmt.Sprintf("the plan (vcenters.%s.url)", name)
	u := first(
		candidate{src.Flags.VCenters[name], "--vcenter " + name + "=..."},
		candidate{src.env(pre + "URL"), pre + "URL"},
		candidate{src.Config.VCenters[name], "vcenter " + name + "=... in the config file"},
		candidate{src.Flags.URL, "--url"},
		candidate{src.env("WAVECTL_URL"), "WAVECTL_URL"},
		candidate{src.env("GOVC_URL"), "GOVC_URL"},
		candidate{src.Config.URL, "url in the config file"},
		candidate{vc.URL, planFrom},
	)
	if u.value == "" {
		return fail("no URL for vCenter %s: set url under vcenters.%s in the plan, --vcenter %s=URL, %sURL, or --url, WAVECTL_URL or GOVC_URL for every vCenter",
			name, name, name, pre)
	}
	endpoint, err := parseEndpoint(u.value)
	if err != nil {
		return fail("vCenter %s: the URL from %s, %q, is not usable: %v; write it as https://HOST/sdk (or just HOST)", name, u.from, redact.URL(u.value), err)
	}
	if endpoint.Scheme == "http" && !src.AllowHTTP {
		return fail("vCenter %s: the URL from %s, %q, is http://: the login, password included, would cross the network in clear text; write https://, or give --insecure-http (WAVECTL_INSECURE_HTTP=true) to accept that in a lab",
			name, u.from, redact.URL(u.value))
	}
	var urlUser, urlPass string
	if endpoint.User != nil {
		urlUser = endpoint.User.Username()
		urlPass, _ = endpoint.User.Password()
		endpoint.User = nil
	}
	s := Settings{URL: endpoint.String()}
	s.Origin.URL = u.from

	// The plan's TLS settings describe the plan's URL, not an override's.
	samePlanHost := false
	if pu, err := parseEndpoint(vc.URL); err == nil && vc.URL != "" {
		samePlanHost = strings.EqualFold(hostPort(pu), hostPort(endpoint))
	}

	govcUser, err := secret(src.env("GOVC_USERNAME"), "user name file")
	if err != nil {
		return fail("vCenter %s: GOVC_USERNAME names a file that cannot be read: %v", name, err)
	}
	govcPass, err := secret(src.env("GOVC_PASSWORD"), "password file")
	if err != nil {
		return fail("vCenter %s: GOVC_PASSWORD names a file that cannot be read: %v", name, err)
	}
	user := first(
		candidate{src.env(pre + "USERNAME"), pre + "USERNAME"},
		candidate{src.Flags.Username, "--username"},
		candidate{src.env("WAVECTL_USERNAME"), "WAVECTL_USERNAME"},
		candidate{govcUser, "GOVC_USERNAME"},
		candidate{urlUser, "the user part of the URL from " + u.from},
		candidate{src.Config.Username, "username in the config file"},
	)
	pass := first(
		candidate{src.env(pre + "PASSWORD"), pre + "PASSWORD"},
		candidate{src.Flags.Password, "--password"},
		candidate{src.env("WAVECTL_PASSWORD"), "WAVECTL_PASSWORD"},
		candidate{govcPass, "GOVC_PASSWORD"},
		candidate{urlPass, "the password part of the URL from " + u.from},
		candidate{src.Config.Password, "password in the config file"},
	)
	switch {
	case user.value == "" && pass.value == "":
		return fail("no username or password for vCenter %s: set WAVECTL_USERNAME and WAVECTL_PASSWORD (or GOVC_USERNAME and GOVC_PASSWORD, or %sUSERNAME and %sPASSWORD for this vCenter only)",
			name, pre, pre)
	case user.value == "":
		return fail("no username for vCenter %s: set --username, WAVECTL_USERNAME or GOVC_USERNAME (or %sUSERNAME for this vCenter only)", name, pre)
	case pass.value == "":
		return fail("no password for vCenter %s: set --password, WAVECTL_PASSWORD or GOVC_PASSWORD (or %sPASSWORD for this vCenter only)", name, pre)
	}
	s.Username, s.Origin.Username = user.value, user.from
	s.Password, s.Origin.Password = pass.value, pass.from

	insecure, err := resolveInsecure(src, vc, samePlanHost, name)
	if err != nil {
		return Settings{}, err
	}
	s.Insecure = insecure.value == "true"

	var known candidate
	if file := src.env("GOVC_TLS_KNOWN_HOSTS"); file != "" {
		tp, err := knownHost(file, endpoint)
		if err != nil {
			return fail("vCenter %s: GOVC_TLS_KNOWN_HOSTS file %s: %v", name, file, err)
		}
		known = candidate{tp, "GOVC_TLS_KNOWN_HOSTS (" + file + ")"}
	}
	planTLS := func(v string) string {
		if samePlanHost {
			return v
		}
		return ""
	}
	tp := first(
		candidate{src.env(pre + "THUMBPRINT"), pre + "THUMBPRINT"},
		candidate{src.Flags.Thumbprint, "--thumbprint"},
		candidate{src.env("WAVECTL_THUMBPRINT"), "WAVECTL_THUMBPRINT"},
		known,
		candidate{src.Config.Thumbprint, "thumbprint in the config file"},
		candidate{planTLS(vc.Thumbprint), fmt.Sprintf("the plan (vcenters.%s.thumbprint)", name)},
	)
	if tp.value != "" {
		norm, err := NormalizeThumbprint(tp.value)
		if err != nil {
			return fail("vCenter %s: the thumbprint from %s: %v", name, tp.from, err)
		}
		s.Thumbprint = norm
	}
	ca := first(
		candidate{src.Flags.CAFile, "--ca-file"},
		candidate{src.env("WAVECTL_CA_FILE"), "WAVECTL_CA_FILE"},
		candidate{src.env("GOVC_TLS_CA_CERTS"), "GOVC_TLS_CA_CERTS"},
		candidate{src.Config.CAFile, "ca-file in the config file"},
		candidate{planTLS(vc.CAFile), fmt.Sprintf("the plan (vcenters.%s.caFile)", name)},
	)
	s.CAFile = ca.value
	switch {
	case s.Insecure:
		s.Origin.Trust = insecure.from
	case s.Thumbprint != "":
		s.Origin.Trust = tp.from
	case s.CAFile != "":
		s.Origin.Trust = ca.from
	}
	return s, nil
}

// resolveInsecure returns "true" or "false" (or "" when nothing says) and
// where it came from.
func resolveInsecure(src Sources, vc plan.VCenter, samePlanHost bool, name string) (candidate, error) {
	if v := src.Flags.Insecure; v != nil {
		return candidate{strconv.FormatBool(*v), "--insecure"}, nil
	}
	if v, ok := lookup(src, "WAVECTL_INSECURE"); ok && v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return candidate{}, &SettingsError{VCenter: name, Msg: fmt.Sprintf("WAVECTL_INSECURE=%q: use true or false", v)}
		}
		return candidate{strconv.FormatBool(b), "WAVECTL_INSECURE"}, nil
	}
	if v, ok := lookup(src, "GOVC_INSECURE"); ok && v != "" {
		// As govc reads it: 1 or true (any case) is insecure, anything else not.
		b := strings.EqualFold(v, "1") || strings.EqualFold(v, "true")
		return candidate{strconv.FormatBool(b), "GOVC_INSECURE"}, nil
	}
	if v := src.Config.Insecure; v != nil {
		return candidate{strconv.FormatBool(*v), "insecure in the config file"}, nil
	}
	if samePlanHost && vc.Insecure {
		return candidate{"true", fmt.Sprintf("the plan (vcenters.%s.insecure)", name)}, nil
	}
	return candidate{}, nil
}

func lookup(src Sources, key string) (string, bool) {
	if src.Env == nil {
		return "", false
	}
	return src.Env(key)
}

// parseEndpoint reads a vCenter URL as govc does: the scheme defaults to
// https and the path to /sdk, so "vc.example" is enough.
func parseEndpoint(raw string) (*url.URL, error) {
	u, err := soap.ParseURL(strings.TrimSpace(raw))
	if err != nil {
		return nil, errors.New("it does not parse as a URL")
	}
	if u == nil { // soap.ParseURL returns nil, nil for ""
		return nil, errors.New("it is empty")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("the scheme is %s, not https", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, errors.New("it names no host")
	}
	if u.User != nil && u.User.Username() == "" {
		if p, ok := u.User.Password(); !ok || p == "" {
			u.User = nil
		}
	}
	return u, nil
}

// MaxSecretFileBytes bounds a password or user name file.
const MaxSecretFileBytes = 64 << 10

// secret reads GOVC_USERNAME and GOVC_PASSWORD as govc does
// (session.Secret): a value that names a file stands for the file's
// content, trimmed. Unlike session.Secret, the file must be a regular one
// of at most MaxSecretFileBytes: a FIFO would block and /dev/zero never
// end.
func secret(value, what string) (string, error) {
	if value == "" {
		return "", nil
	}
	if _, err := os.Stat(value); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return "", err
		}
		return value, nil // not a file name: the value itself
	}
	data, err := input.ReadFile(context.Background(), value, what, MaxSecretFileBytes)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}

// hostPort is host:port with the scheme's default port filled in.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// knownHost finds the endpoint's thumbprint in a govc known-hosts file
// (lines of "host[:port] thumbprint"). A missing file is no error, as in
// govc.
func knownHost(file string, u *url.URL) (string, error) {
	data, err := input.ReadFile(context.Background(), file, "known-hosts file", 4<<20)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", nil
		}
		return "", err
	}
	want := hostPort(u)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.SplitN(strings.TrimSpace(sc.Text()), " ", 2)
		if len(f) != 2 {
			continue
		}
		host := f[0]
		if _, _, err := net.SplitHostPort(host); err != nil {
			host = net.JoinHostPort(strings.Trim(host, "[]"), "443")
		}
		if strings.EqualFold(host, want) {
			return strings.TrimSpace(f[1]), nil
		}
	}
	return "", sc.Err()
}

// NormalizeThumbprint checks that tp is a SHA-1 or SHA-256 fingerprint (hex,
// with or without colons or spaces, any case) and returns it in the form
// vSphere and govc print: upper-case hex pairs joined by colons.
func NormalizeThumbprint(tp string) (string, error) {
	clean := strings.NewReplacer(":", "", " ", "", "-", "").Replace(strings.TrimSpace(tp))
	raw, err := hex.DecodeString(clean)
	if err != nil || (len(raw) != 20 && len(raw) != 32) {
		return "", fmt.Errorf("%q is not a SHA-1 or SHA-256 fingerprint (40 or 64 hex digits, colons optional)", tp)
	}
	pairs := make([]string, len(raw))
	for i, b := range raw {
		pairs[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(pairs, ":"), nil
}
