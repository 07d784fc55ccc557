package redact

import (
	"slices"
	"strings"
	"testing"
)

func TestURLHidesThePasswordInEveryFormAUserMayWrite(t *testing.T) {
	for in, want := range map[string]string{
		"https://admin:s3cret@vc.example/sdk":        "https://admin:***@vc.example/sdk",
		"admin:s3cret@vc.example":                    "admin:***@vc.example",
		":s3cret@vc.example":                         ":***@vc.example",
		"--url=admin:s3cret@vc.example":              "--url=admin:***@vc.example",
		"--url=https://admin:s3cret@vc.example/sdk":  "--url=https://admin:***@vc.example/sdk",
		"crown=https://admin:s3cret@vc.example/sdk":  "crown=https://admin:***@vc.example/sdk",
		"crown=admin:s3cret@vc.example":              "crown=admin:***@vc.example",
		"--vcenter=lab=u:s3cret@vc.lab":              "--vcenter=lab=u:***@vc.lab",
		"https://admin:s3@cr:et/x@vc.example/sdk":    "https://admin:***@vc.example/sdk",
		"admin:pa=ss@vc.example":                     "admin:***@vc.example",
		"https://admin%40corp:s3%3Acret@vc.example/": "https://admin%40corp:***@vc.example/",
		"https://vc.example/sdk":                     "https://vc.example/sdk",
		"https://admin@vc.example/sdk":               "https://admin@vc.example/sdk",
		"alice@example.gov":                          "alice@example.gov",
		"https://admin:***@vc.example/sdk":           "https://admin:***@vc.example/sdk",
		"":                                           "",
		`https://admin:"s3cret"@vc.example/sdk`:      "https://admin:***@vc.example/sdk",
	} {
		if got := URL(in); got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestArgsHidesEverySecretFlagAndURL(t *testing.T) {
	in := []string{"wavectl", "apply", "--password", "s3cret", "--password=s3cret", "--url", "admin:s3cret@vc",
		"--url=https://admin:s3cret@vc/sdk", "--vcenter", "crown=https://admin:s3cret@vc/sdk", "--vcenter=crown=admin:s3cret@vc",
		"--db-token", "s3cret", "--api-secret=s3cret", "-y", "plan.yaml", "--password"}
	want := []string{"wavectl", "apply", "--password", "***", "--password=***", "--url", "admin:***@vc",
		"--url=https://admin:***@vc/sdk", "--vcenter", "crown=https://admin:***@vc/sdk", "--vcenter=crown=admin:***@vc",
		"--db-token", "***", "--api-secret=***", "-y", "plan.yaml", "--password"}
	if got := Args(in); !slices.Equal(got, want) {
		t.Errorf("Args:\n got %q\nwant %q", got, want)
	}
	if got := Args([]string{"-x:token1@vc", "next"}); got[0] != "-x:***@vc" || got[1] != "next" {
		t.Errorf("a URL that starts with '-' is taken for a flag: %q", got)
	}
	if got := Args([]string{"--state", "postgres://wavectl:s3cret@db/migrations?password=s3cret&programme=crown"}); got[1] != "postgres://wavectl:***@db/migrations?password=***&programme=crown" {
		t.Errorf("a database URL: %q", got)
	}
	if Args(nil) != nil {
		t.Error("Args(nil) is not nil")
	}
}

func TestStringHidesSecretsInAFreeText(t *testing.T) {
	for in, want := range map[string]string{
		`vCenter crown: the URL from --url, "admin:s3cret@vc", is not usable`:              `vCenter crown: the URL from --url, "admin:***@vc", is not usable`,
		"Post https://admin:s3cret@vc/sdk: EOF":                                            "Post https://admin:***@vc/sdk: EOF",
		"ran wavectl apply --password s3cret plan.yaml":                                    "ran wavectl apply --password *** plan.yaml",
		"GOVC_PASSWORD=s3cret GOVC_URL=vc":                                                 "GOVC_PASSWORD=*** GOVC_URL=vc",
		`{"password":"s3cret","user":"a"}`:                                                 `{"password":"***","user":"a"}`,
		"password: s3cret":                                                                 "password: ***",
		"no password for vCenter crown: set --password, WAVECTL_PASSWORD or GOVC_PASSWORD": "no password for vCenter crown: set --password, WAVECTL_PASSWORD or GOVC_PASSWORD",
		"write to alice@example.gov":                                                       "write to alice@example.gov",
		`{"url":"https://admin:s3cret@vc.example/sdk","user":"bob@example.gov"}`:           `{"url":"https://admin:***@vc.example/sdk","user":"bob@example.gov"}`,
		`"admin:s3cret@vc.example", and bob@example.gov`:                                   `"admin:***@vc.example", and bob@example.gov`,
		"a https://u:s3cret@one/x then https://v:s3cret@two/y":                             "a https://u:***@one/x then https://v:***@two/y",
	} {
		if got := String(in); got != want {
			t.Errorf("String(%q)\n got %q\nwant %q", in, got, want)
		}
	}
}

func TestEnvDropsSecretsAndHidesURLPasswords(t *testing.T) {
	in := []string{"PATH=/bin", "GOVC_URL=https://admin:s3cret@vc/sdk", "GOVC_PASSWORD=s3cret", "WAVECTL_PASSWORD=s3cret",
		"WAVECTL_VCENTER_CROWN_PASSWORD=s3cret", "WAVECTL_URL=admin:s3cret@vc", "PGPASSWORD=s3cret", "WAVECTL_DB_TOKEN=s3cret",
		"GOVC_USERNAME=admin", "HOME=/root", "EMPTY="}
	want := []string{"PATH=/bin", "GOVC_URL=https://admin:***@vc/sdk", "WAVECTL_URL=admin:***@vc", "GOVC_USERNAME=admin", "HOME=/root", "EMPTY="}
	if got := Env(in); !slices.Equal(got, want) {
		t.Errorf("Env:\n got %q\nwant %q", got, want)
	}
}

// FuzzRedact checks that no form of a URL with a password lets the
// password through, and that redacting twice changes nothing.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{"https://u:pw@h/sdk", "u:pw@h", "--url=u:pw@h", "NAME=https://u:pw@h", "u:p@w@h", "a:b=c@d", "@", ":@", "x://:@", "--password pw"} {
		f.Add("u", "pw", s)
	}
	f.Fuzz(func(t *testing.T, user, pass, text string) {
		for _, s := range []string{text, URL(text), String(text)} {
			if URL(URL(s)) != URL(s) {
				t.Fatalf("URL is not idempotent on %q", s)
			}
		}
		if pass == "" || strings.ContainsAny(pass, " \t\r\n@") || strings.Contains(pass, "://") || strings.Contains(pass, Mask) ||
			strings.ContainsAny(user, " \t\r\n@:/=") {
			return
		}
		for in, want := range map[string]string{
			"https://" + user + ":" + pass + "@vc.example/sdk": "https://" + user + ":" + Mask + "@vc.example/sdk",
			user + ":" + pass + "@vc.example":                  user + ":" + Mask + "@vc.example",
			"--url=" + user + ":" + pass + "@vc.example":       "--url=" + user + ":" + Mask + "@vc.example",
		} {
			if got := URL(in); got != want {
				t.Fatalf("URL(%q) = %q, want %q", in, got, want)
			}
			if got := Args([]string{in}); got[0] != want {
				t.Fatalf("Args(%q) = %q, want %q", in, got, want)
			}
		}
	})
}

func TestWithoutPasswordKeepsAURLThatStillWorks(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://wavectl:s3cret@db/migrations?programme=crown":                  "postgres://wavectl@db/migrations?programme=crown",
		"postgres://wavectl@db/migrations?password=s3cret&programme=crown":         "postgres://wavectl@db/migrations?programme=crown",
		"postgres://db/migrations":                                                 "postgres://db/migrations",
		"postgres://wavectl:s3cret@db:5432/migrations?sslmode=verify-full&x=1&y=2": "postgres://wavectl@db:5432/migrations?sslmode=verify-full&x=1&y=2",
	} {
		if got := WithoutPassword(in); got != want {
			t.Errorf("WithoutPassword(%q) = %q, want %q", in, got, want)
		}
	}
	if got := WithoutPassword("postgres://u:s3cret@db/%zz"); strings.Contains(got, "s3cret") {
		t.Errorf("an unparsable URL shows its password: %q", got)
	}
}
