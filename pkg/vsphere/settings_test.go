package vsphere

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/wavectl/wavectl/pkg/plan"
)

const (
	sha1TP   = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01"
	sha256TP = "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF"
)

// twoVCenters is a plan with a source and a target vCenter, the target
// pinned by thumbprint and the source in a lab without verification.
func twoVCenters() *plan.Plan {
	return &plan.Plan{VCenters: map[string]plan.VCenter{
		"crown":      {URL: "https://vc-crown.example/sdk", Thumbprint: sha1TP, CAFile: "/etc/crown-ca.pem"},
		"legacy-dc1": {URL: "https://vc-legacy.example/sdk", Insecure: true},
	}}
}

// env is an injected environment.
func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// creds are credentials for every vCenter, for cases about something else.
var creds = []string{"GOVC_USERNAME", "admin", "GOVC_PASSWORD", "pw"}

func withCreds(kv ...string) func(string) (string, bool) {
	return env(append(append([]string{}, creds...), kv...)...)
}

func ptr[T any](v T) *T { return &v }

func TestResolve(t *testing.T) {
	tests := []struct {
		name string
		src  Sources
		// want holds the expected settings by vCenter; only the named
		// vCenters are checked, Origin is ignored unless wantFrom says.
		want     map[string]Settings
		wantFrom map[string]Origin
	}{
		{
			name: "the plan's url is used when nothing overrides it",
			src:  Sources{Env: withCreds()},
			want: map[string]Settings{
				"crown":      {URL: "https://vc-crown.example/sdk", Username: "admin", Password: "pw", Thumbprint: sha1TP, CAFile: "/etc/crown-ca.pem"},
				"legacy-dc1": {URL: "https://vc-legacy.example/sdk", Username: "admin", Password: "pw", Insecure: true},
			},
			wantFrom: map[string]Origin{"crown": {URL: "the plan (vcenters.crown.url)", Username: "GOVC_USERNAME", Password: "GOVC_PASSWORD", Trust: "the plan (vcenters.crown.thumbprint)"}},
		},
		{
			name: "--vcenter overrides one vCenter's url and leaves the others",
			src:  Sources{Env: withCreds(), Flags: Values{VCenters: map[string]string{"crown": "https://vc-crown-2.example/sdk"}}},
			want: map[string]Settings{
				"crown":      {URL: "https://vc-crown-2.example/sdk", Username: "admin", Password: "pw"},
				"legacy-dc1": {URL: "https://vc-legacy.example/sdk", Username: "admin", Password: "pw", Insecure: true},
			},
			wantFrom: map[string]Origin{"crown": {URL: "--vcenter crown=...", Username: "GOVC_USERNAME", Password: "GOVC_PASSWORD"}},
		},
		{
			name: "--vcenter beats WAVECTL_VCENTER_<NAME>_URL",
			src: Sources{Env: withCreds("WAVECTL_VCENTER_CROWN_URL", "https://from-env.example/sdk"),
				Flags: Values{VCenters: map[string]string{"crown": "https://from-flag.example/sdk"}}},
			want: map[string]Settings{"crown": {URL: "https://from-flag.example/sdk", Username: "admin", Password: "pw"}},
		},
		{
			name: "WAVECTL_VCENTER_<NAME>_URL upper-cases the name and turns dashes into underscores",
			src:  Sources{Env: withCreds("WAVECTL_VCENTER_LEGACY_DC1_URL", "https://legacy-2.example/sdk")},
			want: map[string]Settings{"legacy-dc1": {URL: "https://legacy-2.example/sdk", Username: "admin", Password: "pw"}},
		},
		{
			name: "WAVECTL_VCENTER_<NAME>_URL beats GOVC_URL",
			src:  Sources{Env: withCreds("WAVECTL_VCENTER_CROWN_URL", "https://from-env.example/sdk", "GOVC_URL", "https://govc.example/sdk")},
			want: map[string]Settings{
				"crown":      {URL: "https://from-env.example/sdk", Username: "admin", Password: "pw"},
				"legacy-dc1": {URL: "https://govc.example/sdk", Username: "admin", Password: "pw"},
			},
		},
		{
			name: "GOVC_URL stands in for every vCenter without an override",
			src:  Sources{Env: withCreds("GOVC_URL", "https://127.0.0.1:8989/sdk")},
			want: map[string]Settings{
				"crown":      {URL: "https://127.0.0.1:8989/sdk", Username: "admin", Password: "pw"},
				"legacy-dc1": {URL: "https://127.0.0.1:8989/sdk", Username: "admin", Password: "pw"},
			},
			wantFrom: map[string]Origin{"crown": {URL: "GOVC_URL", Username: "GOVC_USERNAME", Password: "GOVC_PASSWORD"}},
		},
		{
			name: "a bare host in GOVC_URL becomes https://HOST/sdk, as in govc",
			src:  Sources{Env: withCreds("GOVC_URL", "vc.lab")},
			want: map[string]Settings{"crown": {URL: "https://vc.lab/sdk", Username: "admin", Password: "pw"}},
		},
		{
			name: "WAVECTL_URL beats GOVC_URL",
			src:  Sources{Env: withCreds("WAVECTL_URL", "https://wavectl.example/sdk", "GOVC_URL", "https://govc.example/sdk")},
			want: map[string]Settings{"crown": {URL: "https://wavectl.example/sdk", Username: "admin", Password: "pw"}},
		},
		{
			name: "--url beats WAVECTL_URL",
			src:  Sources{Env: withCreds("WAVECTL_URL", "https://wavectl.example/sdk"), Flags: Values{URL: "https://flag.example/sdk"}},
			want: map[string]Settings{"crown": {URL: "https://flag.example/sdk", Username: "admin", Password: "pw"}},
		},
		{
			name: "GOVC_URL beats url in the config file, as env beats the config file",
			src:  Sources{Env: withCreds("GOVC_URL", "https://govc.example/sdk"), Config: Values{URL: "https://config.example/sdk"}},
			want: map[string]Settings{"crown": {URL: "https://govc.example/sdk", Username: "admin", Password: "pw"}},
		},
		{
			name: "url in the config file beats the plan",
			src:  Sources{Env: withCreds(), Config: Values{URL: "https://config.example/sdk"}},
			want: map[string]Settings{"crown": {URL: "https://config.example/sdk", Username: "admin", Password: "pw"}},
		},
		{
			name: "a vcenter override in the config file beats GOVC_URL, being an override",
			src: Sources{Env: withCreds("GOVC_URL", "https://govc.example/sdk"),
				Config: Values{VCenters: map[string]string{"crown": "https://config-crown.example/sdk"}}},
			want: map[string]Settings{
				"crown":      {URL: "https://config-crown.example/sdk", Username: "admin", Password: "pw"},
				"legacy-dc1": {URL: "https://govc.example/sdk", Username: "admin", Password: "pw"},
			},
		},
		{
			name: "credentials in GOVC_URL are taken out of the URL and used",
			src:  Sources{Env: env("GOVC_URL", "bob:s3cret@vc.lab")},
			want: map[string]Settings{"crown": {URL: "https://vc.lab/sdk", Username: "bob", Password: "s3cret"}},
			wantFrom: map[string]Origin{"crown": {URL: "GOVC_URL", Username: "the user part of the URL from GOVC_URL",
				Password: "the password part of the URL from GOVC_URL"}},
		},
		{
			name: "GOVC_USERNAME and GOVC_PASSWORD beat the ones in GOVC_URL, as in govc",
			src:  Sources{Env: env("GOVC_URL", "https://bob:s3cret@vc.lab/sdk", "GOVC_USERNAME", "alice", "GOVC_PASSWORD", "other")},
			want: map[string]Settings{"crown": {URL: "https://vc.lab/sdk", Username: "alice", Password: "other"}},
		},
		{
			name: "--username beats WAVECTL_USERNAME, which beats GOVC_USERNAME, which beats the config file",
			src: Sources{Env: env("WAVECTL_USERNAME", "env-user", "GOVC_USERNAME", "govc-user", "GOVC_PASSWORD", "pw"),
				Flags: Values{Username: "flag-user"}, Config: Values{Username: "config-user"}},
			want: map[string]Settings{"crown": {URL: "https://vc-crown.example/sdk", Username: "flag-user", Password: "pw", Thumbprint: sha1TP, CAFile: "/etc/crown-ca.pem"}},
		},
		{
			name: "WAVECTL_USERNAME beats GOVC_USERNAME",
			src:  Sources{Env: env("WAVECTL_USERNAME", "env-user", "GOVC_USERNAME", "govc-user", "WAVECTL_PASSWORD", "env-pw", "GOVC_PASSWORD", "govc-pw")},
			want: map[string]Settings{"crown": {URL: "https://vc-crown.example/sdk", Username: "env-user", Password: "env-pw", Thumbprint: sha1TP, CAFile: "/etc/crown-ca.pem"}},
		},
		{
			name: "credentials in the config file are the last resort",
			src:  Sources{Config: Values{Username: "config-user", Password: "config-pw", Thumbprint: sha1TP, CAFile: "/etc/crown-ca.pem"}},
			want: map[string]Settings{"crown": {URL: "https://vc-crown.example/sdk", Username: "config-user", Password: "config-pw", Thumbprint: sha1TP, CAFile: "/etc/crown-ca.pem"}},
		},
		{
			name: "WAVECTL_VCENTER_<NAME>_USERNAME and _PASSWORD override the credentials for that vCenter only",
			src: Sources{Env: env("WAVECTL_VCENTER_LEGACY_DC1_USERNAME", "legacy-admin", "WAVECTL_VCENTER_LEGACY_DC1_PASSWORD", "legacy-pw"),
				Flags: Values{Username: "admin", Password: "pw"}},
			want: map[string]Settings{
				"crown":      {URL: "https://vc-crown.example/sdk", Username: "admin", Password: "pw", Thumbprint: sha1TP, CAFile: "/etc/crown-ca.pem"},
				"legacy-dc1": {URL: "https://vc-legacy.example/sdk", Username: "legacy-admin", Password: "legacy-pw", Insecure: true},
			},
			wantFrom: map[string]Origin{"legacy-dc1": {URL: "the plan (vcenters.legacy-dc1.url)", Username: "WAVECTL_VCENTER_LEGACY_DC1_USERNAME",
				Password: "WAVECTL_VCENTER_LEGACY_DC1_PASSWORD", Trust: "the plan (vcenters.legacy-dc1.insecure)"}},
		},
		{
			name: "certificates are verified unless something asks otherwise",
			src:  Sources{Env: withCreds(), Flags: Values{VCenters: map[string]string{"legacy-dc1": "https://other.example/sdk"}}},
			want: map[string]Settings{"legacy-dc1": {URL: "https://other.example/sdk", Username: "admin", Password: "pw"}},
		},
		{
			name: "GOVC_INSECURE=1 turns verification off for every vCenter",
			src:  Sources{Env: withCreds("GOVC_INSECURE", "1")},
			want: map[string]Settings{"crown": {URL: "https://vc-crown.example/sdk", Username: "admin", Password: "pw", Insecure: true, Thumbprint: sha1TP, CAFile: "/etc/crown-ca.pem"}},
		},
		{
			name: "GOVC_INSECURE=true turns verification off too",
			src:  Sources{Env: withCreds("GOVC_INSECURE", "true"), Flags: Values{URL: "https://lab.example/sdk"}},
			want: map[string]Settings{"crown": {URL: "https://lab.example/sdk", Username: "admin", Password: "pw", Insecure: true}},
		},
		{
			name: "GOVC_INSECURE=0 keeps verification on even when the plan asks for insecure",
			src:  Sources{Env: withCreds("GOVC_INSECURE", "0")},
			want: map[string]Settings{"legacy-dc1": {URL: "https://vc-legacy.example/sdk", Username: "admin", Password: "pw"}},
		},
		{
			name: "--insecure=false beats GOVC_INSECURE=1",
			src:  Sources{Env: withCreds("GOVC_INSECURE", "1"), Flags: Values{Insecure: ptr(false)}},
			want: map[string]Settings{"legacy-dc1": {URL: "https://vc-legacy.example/sdk", Username: "admin", Password: "pw"}},
		},
		{
			name: "WAVECTL_INSECURE beats GOVC_INSECURE",
			src:  Sources{Env: withCreds("WAVECTL_INSECURE", "false", "GOVC_INSECURE", "1"), Flags: Values{URL: "https://lab.example/sdk"}},
			want: map[string]Settings{"crown": {URL: "https://lab.example/sdk", Username: "admin", Password: "pw"}},
		},
		{
			name: "insecure in the config file applies when no flag or env says",
			src:  Sources{Env: withCreds(), Config: Values{Insecure: ptr(true), URL: "https://lab.example/sdk"}},
			want: map[string]Settings{"crown": {URL: "https://lab.example/sdk", Username: "admin", Password: "pw", Insecure: true}},
		},
		{
			name: "the plan's insecure, thumbprint and caFile do not follow the URL to another host",
			src:  Sources{Env: withCreds("GOVC_URL", "https://127.0.0.1:8989/sdk")},
			want: map[string]Settings{
				"crown":      {URL: "https://127.0.0.1:8989/sdk", Username: "admin", Password: "pw"},
				"legacy-dc1": {URL: "https://127.0.0.1:8989/sdk", Username: "admin", Password: "pw"},
			},
		},
		{
			name: "the plan's thumbprint still applies when the override names the same host and port",
			src:  Sources{Env: withCreds("WAVECTL_VCENTER_CROWN_URL", "vc-crown.example:443")},
			want: map[string]Settings{"crown": {URL: "https://vc-crown.example:443/sdk", Username: "admin", Password: "pw", Thumbprint: sha1TP, CAFile: "/etc/crown-ca.pem"}},
		},
		{
			name: "--thumbprint beats the plan's thumbprint",
			src:  Sources{Env: withCreds(), Flags: Values{Thumbprint: sha256TP}},
			want: map[string]Settings{"crown": {URL: "https://vc-crown.example/sdk", Username: "admin", Password: "pw", Thumbprint: sha256TP, CAFile: "/etc/crown-ca.pem"}},
		},
		{
			name: "WAVECTL_VCENTER_<NAME>_THUMBPRINT beats --thumbprint",
			src:  Sources{Env: withCreds("WAVECTL_VCENTER_CROWN_THUMBPRINT", sha256TP), Flags: Values{Thumbprint: sha1TP}},
			want: map[string]Settings{"crown": {URL: "https://vc-crown.example/sdk", Username: "admin", Password: "pw", Thumbprint: sha256TP, CAFile: "/etc/crown-ca.pem"}},
		},
		{
			name: "WAVECTL_THUMBPRINT beats the config file's thumbprint",
			src:  Sources{Env: withCreds("WAVECTL_THUMBPRINT", sha256TP, "GOVC_URL", "lab"), Config: Values{Thumbprint: sha1TP}},
			want: map[string]Settings{"crown": {URL: "https://lab/sdk", Username: "admin", Password: "pw", Thumbprint: sha256TP}},
		},
		{
			name: "thumbprints are written as upper-case hex pairs with colons, whatever form they came in",
			src:  Sources{Env: withCreds(), Flags: Values{Thumbprint: strings.ToLower(strings.ReplaceAll(sha256TP, ":", ""))}},
			want: map[string]Settings{"crown": {URL: "https://vc-crown.example/sdk", Username: "admin", Password: "pw", Thumbprint: sha256TP, CAFile: "/etc/crown-ca.pem"}},
		},
		{
			name: "--ca-file beats GOVC_TLS_CA_CERTS, which beats the plan's caFile",
			src:  Sources{Env: withCreds("GOVC_TLS_CA_CERTS", "/govc/ca.pem"), Flags: Values{CAFile: "/flag/ca.pem"}},
			want: map[string]Settings{"crown": {URL: "https://vc-crown.example/sdk", Username: "admin", Password: "pw", Thumbprint: sha1TP, CAFile: "/flag/ca.pem"}},
		},
		{
			name: "GOVC_TLS_CA_CERTS beats the plan's caFile",
			src:  Sources{Env: withCreds("GOVC_TLS_CA_CERTS", "/govc/ca.pem")},
			want: map[string]Settings{"crown": {URL: "https://vc-crown.example/sdk", Username: "admin", Password: "pw", Thumbprint: sha1TP, CAFile: "/govc/ca.pem"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(twoVCenters(), tt.src)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			for name, want := range tt.want {
				g := got[name]
				from := g.Origin
				g.Origin = Origin{}
				if g != want {
					t.Errorf("vCenter %s:\n got %#v\nwant %#v", name, g, want)
				}
				// %#v redacts: compare the password apart.
				if g.Password != want.Password {
					t.Errorf("vCenter %s: got password %q, want %q", name, g.Password, want.Password)
				}
				if wf, ok := tt.wantFrom[name]; ok && from != wf {
					t.Errorf("vCenter %s: origins\n got %+v\nwant %+v", name, from, wf)
				}
			}
		})
	}
}

func TestResolveReadsGovcFiles(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	known := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(known, []byte("other.example "+sha1TP+"\nvc-crown.example "+sha256TP+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("GOVC_PASSWORD naming a file reads the password from it, as govc does", func(t *testing.T) {
		got, err := Resolve(twoVCenters(), Sources{Env: env("GOVC_USERNAME", "admin", "GOVC_PASSWORD", pwFile)})
		if err != nil {
			t.Fatal(err)
		}
		if got["crown"].Password != "from-file" {
			t.Errorf("password = %q, want the file's content", got["crown"].Password)
		}
	})
	t.Run("GOVC_TLS_KNOWN_HOSTS gives the thumbprint of the URL's host and beats the plan's", func(t *testing.T) {
		got, err := Resolve(twoVCenters(), Sources{Env: withCreds("GOVC_TLS_KNOWN_HOSTS", known)})
		if err != nil {
			t.Fatal(err)
		}
		if got["crown"].Thumbprint != sha256TP {
			t.Errorf("crown thumbprint = %q, want %q", got["crown"].Thumbprint, sha256TP)
		}
		if got["crown"].Origin.Trust != "GOVC_TLS_KNOWN_HOSTS ("+known+")" {
			t.Errorf("crown trust from %q", got["crown"].Origin.Trust)
		}
		if got["legacy-dc1"].Thumbprint != "" {
			t.Errorf("legacy-dc1 thumbprint = %q, want none (not in the file)", got["legacy-dc1"].Thumbprint)
		}
	})
	t.Run("a missing GOVC_TLS_KNOWN_HOSTS file is ignored, as in govc", func(t *testing.T) {
		if _, err := Resolve(twoVCenters(), Sources{Env: withCreds("GOVC_TLS_KNOWN_HOSTS", filepath.Join(dir, "none"))}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name string
		plan *plan.Plan
		src  Sources
		want []string // substrings of the error
		not  []string // must not appear
	}{
		{
			name: "a missing password says how to give it",
			src:  Sources{Env: env("GOVC_USERNAME", "admin")},
			want: []string{"no password for vCenter crown: set --password, WAVECTL_PASSWORD or GOVC_PASSWORD (or WAVECTL_VCENTER_CROWN_PASSWORD for this vCenter only)",
				"no password for vCenter legacy-dc1"},
		},
		{
			name: "a missing username says how to give it",
			src:  Sources{Env: env("GOVC_PASSWORD", "pw")},
			want: []string{"no username for vCenter crown: set --username, WAVECTL_USERNAME or GOVC_USERNAME"},
			not:  []string{"pw"},
		},
		{
			name: "no credentials at all asks for both",
			src:  Sources{},
			want: []string{"no username or password for vCenter crown: set WAVECTL_USERNAME and WAVECTL_PASSWORD"},
		},
		{
			name: "a --vcenter for a vCenter the plan lacks lists the ones it has",
			src:  Sources{Env: withCreds(), Flags: Values{VCenters: map[string]string{"crwn": "https://x.example/sdk"}}},
			want: []string{`--vcenter crwn=...: the plan has no vCenter "crwn"; use one of: crown, legacy-dc1`},
		},
		{
			name: "a vCenter with no URL anywhere says where to put one",
			plan: &plan.Plan{VCenters: map[string]plan.VCenter{"crown": {}}},
			src:  Sources{Env: withCreds()},
			want: []string{"no URL for vCenter crown: set url under vcenters.crown in the plan, --vcenter crown=URL, WAVECTL_VCENTER_CROWN_URL"},
		},
		{
			name: "a URL that does not parse is reported without its password",
			src:  Sources{Env: env("GOVC_URL", "https://bob:s3cret@vc lab/sdk")},
			want: []string{"the URL from GOVC_URL", "https://bob:***@vc lab/sdk"},
			not:  []string{"s3cret"},
		},
		{
			name: "a URL with another scheme is refused",
			src:  Sources{Env: withCreds(), Flags: Values{URL: "ftp://vc.example"}},
			want: []string{"the URL from --url", "the scheme is ftp, not https"},
		},
		{
			name: "an http:// URL is refused, as it would send the password in clear text",
			src:  Sources{Env: env("GOVC_URL", "http://admin:s3cret@vc.example/sdk")},
			want: []string{`the URL from GOVC_URL, "http://admin:***@vc.example/sdk", is http://`, "clear text", "--insecure-http"},
			not:  []string{"s3cret"},
		},
		{
			name: "a malformed thumbprint says what a thumbprint looks like",
			src:  Sources{Env: withCreds(), Flags: Values{Thumbprint: "AA:BB"}},
			want: []string{"the thumbprint from --thumbprint", "40 or 64 hex digits"},
		},
		{
			name: "WAVECTL_INSECURE must be a boolean",
			src:  Sources{Env: withCreds("WAVECTL_INSECURE", "maybe")},
			want: []string{`WAVECTL_INSECURE="maybe": use true or false`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.plan
			if p == nil {
				p = twoVCenters()
			}
			got, err := Resolve(p, tt.src)
			if err == nil {
				t.Fatalf("Resolve succeeded with %v, want an error", got)
			}
			var se *SettingsError
			if !errors.As(err, &se) {
				t.Errorf("error %T is not a *SettingsError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain\n%s", err, w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(err.Error(), n) {
					t.Errorf("error\n%v\ncontains %q", err, n)
				}
			}
		})
	}
}

func TestSettingsNeverPrintThePassword(t *testing.T) {
	s := Settings{URL: "https://vc.example/sdk", Username: "admin", Password: "hunter2-secret", Thumbprint: sha1TP}
	type holder struct{ S Settings }
	outputs := map[string]string{
		"%v":        fmt.Sprintf("%v", s),
		"%+v":       fmt.Sprintf("%+v", s),
		"%#v":       fmt.Sprintf("%#v", s),
		"%s":        fmt.Sprintf("%s", s), //nolint:staticcheck // S1025: what %s prints is the point
		"%q":        fmt.Sprintf("%q", s),
		"pointer":   fmt.Sprintf("%+v", &s),
		"nested":    fmt.Sprintf("%+v", holder{s}),
		"nested #v": fmt.Sprintf("%#v", holder{s}),
		"map":       fmt.Sprintf("%v", map[string]Settings{"crown": s}),
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	outputs["json"] = string(b)
	var zl bytes.Buffer
	zlog := zerolog.New(&zl)
	zlog.Info().Object("vcenter", s).Interface("any", s).Msg("settings")
	outputs["zerolog"] = zl.String()
	var sl bytes.Buffer
	slog.New(slog.NewJSONHandler(&sl, nil)).Info("settings", "vcenter", s)
	outputs["slog"] = sl.String()

	for how, out := range outputs {
		if strings.Contains(out, "hunter2") {
			t.Errorf("%s prints the password: %s", how, out)
		}
		if !strings.Contains(out, "vc.example") {
			t.Errorf("%s leaves out the URL: %s", how, out)
		}
	}
	if s.Redacted().Password != "***" || s.Password != "hunter2-secret" {
		t.Errorf("Redacted must return a redacted copy and leave the original alone")
	}
}

func TestEnvName(t *testing.T) {
	for in, want := range map[string]string{
		"crown":      "CROWN",
		"legacy-dc1": "LEGACY_DC1",
		"vc.lab":     "VC_LAB",
		"Crown_2":    "CROWN_2",
	} {
		if got := EnvName(in); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHTTPIsAcceptedOnlyWhenAskedFor(t *testing.T) {
	got, err := Resolve(twoVCenters(), Sources{Env: withCreds("GOVC_URL", "http://vc.example/sdk"), AllowHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	if u := got["crown"].URL; u != "http://vc.example/sdk" {
		t.Errorf("URL %q, want http://vc.example/sdk", u)
	}
}
