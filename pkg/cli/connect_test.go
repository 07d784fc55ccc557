package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

func lookup(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// runConnect runs `wavectl conn ARGS...`, a command with the connection
// flags that calls run, through the real root command (config file, env
// binding, logging). It returns the exit code and stderr.
func runConnect(t *testing.T, args []string, run func(f *Factory, cmd *cobra.Command) error) (int, string) {
	t.Helper()
	ios, _, _, stderr := Test()
	f := &Factory{IO: ios, Config: viper.New(), Log: zerolog.Nop()}
	root := NewRootCmd(f)
	cmd := &cobra.Command{Use: "conn", RunE: func(cmd *cobra.Command, _ []string) error { return run(f, cmd) }}
	AddConnectionFlags(cmd)
	root.AddCommand(cmd)
	root.SetArgs(append([]string{"conn"}, args...))
	root.SetOut(ios.Out)
	root.SetErr(ios.ErrOut)
	err := root.ExecuteContext(context.Background())
	if err != nil {
		stderr.WriteString("Error: " + err.Error() + "\n")
	}
	return codeOf(err), stderr.String()
}

func sources(t *testing.T, args []string, env func(string) (string, bool)) (vsphere.Sources, int, string) {
	t.Helper()
	var got vsphere.Sources
	code, stderr := runConnect(t, args, func(f *Factory, cmd *cobra.Command) error {
		var err error
		got, err = ConnectionSources(f, cmd, env)
		return err
	})
	return got, code, stderr
}

func TestAddConnectionFlags(t *testing.T) {
	cmd := &cobra.Command{Use: "x", Long: "Does x."}
	AddConnectionFlags(cmd)
	for _, name := range []string{"url", "username", "password", "insecure", "thumbprint", "ca-file", "vcenter"} {
		if cmd.Flags().Lookup(name) == nil {
			t.Errorf("no --%s flag", name)
		}
	}
	if u := cmd.Flags().Lookup("password").Usage; !strings.Contains(u, "prefer env WAVECTL_PASSWORD or GOVC_PASSWORD") {
		t.Errorf("--password's help does not steer users to env: %q", u)
	}
	if !strings.Contains(cmd.Long, "GOVC_URL") || !strings.HasPrefix(cmd.Long, "Does x.") {
		t.Errorf("the command's help does not explain connection settings:\n%s", cmd.Long)
	}
}

func TestConnectionSources(t *testing.T) {
	dir := isolate(t)
	config := write(t, dir, "config.yaml", `url: https://config.example/sdk
username: config-user
insecure: true
ca-file: /config/ca.pem
vcenter: {crown: https://config-crown.example/sdk}
`)
	listConfig := write(t, dir, "list.yaml", "vcenter: [crown=https://a.example/sdk, legacy=https://b.example/sdk]\n")
	badBool := write(t, dir, "badbool.yaml", "insecure: maybe\n")
	badList := write(t, dir, "badlist.yaml", "vcenter: [crown]\n")

	tests := []struct {
		name   string
		args   []string
		env    []string // real WAVECTL_* env, which viper also sees
		want   vsphere.Sources
		code   int
		stderr string
	}{
		{
			name: "flags the user gave are the flag layer and flags left alone are not",
			args: []string{"--url", "https://flag.example/sdk", "--username", "u", "--insecure=false", "--thumbprint", "AA", "--ca-file", "/ca.pem"},
			want: vsphere.Sources{Flags: vsphere.Values{URL: "https://flag.example/sdk", Username: "u", Insecure: new(bool), Thumbprint: "AA", CAFile: "/ca.pem"}},
		},
		{
			name: "no flags and no config file give empty layers",
			want: vsphere.Sources{},
		},
		{
			name: "--vcenter is repeatable and read as NAME=URL",
			args: []string{"--vcenter", "crown=https://c.example/sdk", "--vcenter", "legacy = https://l.example/sdk"},
			want: vsphere.Sources{Flags: vsphere.Values{VCenters: map[string]string{"crown": "https://c.example/sdk", "legacy": "https://l.example/sdk"}}},
		},
		{
			name: "the config file is its own layer, whatever WAVECTL_* env and flags say",
			args: []string{"--config", config, "--url", "https://flag.example/sdk"},
			env:  []string{"WAVECTL_USERNAME", "env-user"},
			want: vsphere.Sources{
				Flags: vsphere.Values{URL: "https://flag.example/sdk"},
				Config: vsphere.Values{URL: "https://config.example/sdk", Username: "config-user", Insecure: ptrTrue(), CAFile: "/config/ca.pem",
					VCenters: map[string]string{"crown": "https://config-crown.example/sdk"}},
			},
		},
		{
			name: "vcenter in the config file may be a list of NAME=URL",
			args: []string{"--config", listConfig},
			want: vsphere.Sources{Config: vsphere.Values{VCenters: map[string]string{"crown": "https://a.example/sdk", "legacy": "https://b.example/sdk"}}},
		},
		{
			name:   "a --vcenter without NAME= is a usage error that shows the form, not the password",
			args:   []string{"--vcenter", "https://bob:pw@vc.example/sdk"},
			code:   ExitUsage,
			stderr: `--vcenter "***@vc.example/sdk": write it as NAME=URL, e.g. crown=https://vc.example/sdk`,
		},
		{
			name:   "the same vCenter twice in --vcenter is a usage error",
			args:   []string{"--vcenter", "crown=https://a/sdk", "--vcenter", "crown=https://b/sdk"},
			code:   ExitUsage,
			stderr: "--vcenter: vCenter crown is given twice",
		},
		{
			name:   "insecure in the config file must be a boolean",
			args:   []string{"--config", badBool},
			code:   ExitUsage,
			stderr: "insecure: use true or false",
		},
		{
			name:   "a vcenter entry in the config file without NAME= is a usage error",
			args:   []string{"--config", badList},
			code:   ExitUsage,
			stderr: `write it as NAME=URL`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := 0; i+1 < len(tt.env); i += 2 {
				t.Setenv(tt.env[i], tt.env[i+1])
			}
			env := lookup("GOVC_URL", "https://govc.example/sdk")
			got, code, stderr := sources(t, tt.args, env)
			if code != tt.code {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, tt.code, stderr)
			}
			if tt.code != ExitOK {
				if !strings.Contains(stderr, tt.stderr) {
					t.Errorf("stderr %q\nlacks %q", stderr, tt.stderr)
				}
				if strings.Contains(stderr, "bob:pw") {
					t.Errorf("stderr shows the password: %s", stderr)
				}
				return
			}
			if v, _ := got.Env("GOVC_URL"); v != "https://govc.example/sdk" {
				t.Errorf("Env is not the injected lookup")
			}
			got.Env = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %s\nwant %s", show(got), show(tt.want))
			}
		})
	}
}

func ptrTrue() *bool { b := true; return &b }

func show(s vsphere.Sources) string {
	f := func(v vsphere.Values) string {
		ins := "nil"
		if v.Insecure != nil {
			ins = strconv.FormatBool(*v.Insecure)
		}
		return fmt.Sprintf("{URL:%s Username:%s Password:%s Insecure:%s Thumbprint:%s CAFile:%s VCenters:%v}",
			v.URL, v.Username, v.Password, ins, v.Thumbprint, v.CAFile, v.VCenters)
	}
	return "Flags" + f(s.Flags) + " Config" + f(s.Config)
}

// TestConnectionPrecedence runs the whole path, flags and config file
// through cobra and viper into vsphere.Resolve, for the rules that involve
// more than one layer.
func TestConnectionPrecedence(t *testing.T) {
	dir := isolate(t)
	config := write(t, dir, "config.yaml", "url: https://config.example/sdk\nusername: config-user\npassword: config-pw\n")
	p := &plan.Plan{VCenters: map[string]plan.VCenter{"crown": {URL: "https://plan.example/sdk"}}}

	tests := []struct {
		name     string
		args     []string
		env      []string
		wantURL  string
		wantUser string
	}{
		{"the config file's url beats the plan's", []string{"--config", config}, nil, "https://config.example/sdk", "config-user"},
		{"GOVC_URL beats the config file's url", []string{"--config", config}, []string{"GOVC_URL", "govc.example"}, "https://govc.example/sdk", "config-user"},
		{"WAVECTL_URL beats GOVC_URL", []string{"--config", config}, []string{"GOVC_URL", "govc.example", "WAVECTL_URL", "https://wavectl.example/sdk"}, "https://wavectl.example/sdk", "config-user"},
		{"--url beats WAVECTL_URL", []string{"--config", config, "--url", "https://flag.example/sdk"}, []string{"WAVECTL_URL", "https://wavectl.example/sdk"}, "https://flag.example/sdk", "config-user"},
		{"--vcenter beats --url", []string{"--url", "https://flag.example/sdk", "--vcenter", "crown=https://crown.example/sdk"}, []string{"GOVC_USERNAME", "g", "GOVC_PASSWORD", "p"}, "https://crown.example/sdk", "g"},
		{"GOVC_USERNAME beats the config file's username", []string{"--config", config}, []string{"GOVC_USERNAME", "govc-user"}, "https://config.example/sdk", "govc-user"},
		{"--username beats WAVECTL_USERNAME", []string{"--config", config, "--username", "flag-user"}, []string{"WAVECTL_USERNAME", "env-user"}, "https://config.example/sdk", "flag-user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got map[string]vsphere.Settings
			code, stderr := runConnect(t, tt.args, func(f *Factory, cmd *cobra.Command) error {
				src, err := ConnectionSources(f, cmd, lookup(tt.env...))
				if err != nil {
					return err
				}
				got, err = vsphere.Resolve(p, src)
				return err
			})
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if s := got["crown"]; s.URL != tt.wantURL || s.Username != tt.wantUser {
				t.Errorf("got %s as %s, want %s as %s", s.URL, s.Username, tt.wantURL, tt.wantUser)
			}
		})
	}
}

func TestVCenterSessions(t *testing.T) {
	dir := isolate(t)
	p := &plan.Plan{VCenters: map[string]plan.VCenter{"crown": {URL: "https://plan.example/sdk"}}}

	t.Run("missing credentials are a usage error that says what to set", func(t *testing.T) {
		code, stderr := runConnect(t, nil, func(f *Factory, cmd *cobra.Command) error {
			_, err := VCenterSessions(f, cmd, p, lookup("GOVC_USERNAME", "admin"))
			return err
		})
		if code != ExitUsage || !strings.Contains(stderr, "no password for vCenter crown: set --password, WAVECTL_PASSWORD or GOVC_PASSWORD") {
			t.Errorf("exit %d, stderr:\n%s", code, stderr)
		}
	})

	t.Run("GOVC_URL with a user:password@ part and GOVC_INSECURE reach a simulated vCenter", func(t *testing.T) {
		m := simulator.VPX()
		if err := m.Create(); err != nil {
			t.Fatal(err)
		}
		defer m.Remove()
		m.Service.TLS = new(tls.Config)
		m.Service.Listen = &url.URL{User: url.UserPassword("admin", "sim-secret-pw")}
		s := m.Service.NewServer()
		defer s.Close()
		host := s.URL.Host

		var logs strings.Builder
		code, stderr := runConnect(t, []string{"--log-level", "debug", "--log-format", "json"}, func(f *Factory, cmd *cobra.Command) error {
			f.Log = zerolog.New(&logs).Level(zerolog.DebugLevel)
			ss, err := VCenterSessions(f, cmd, p, lookup("GOVC_URL", "admin:sim-secret-pw@"+host, "GOVC_INSECURE", "1"))
			if err != nil {
				return err
			}
			defer func() { _ = ss.CloseAll(context.Background()) }()
			sess, err := ss.Get(context.Background(), "crown")
			if err != nil {
				return err
			}
			if _, err := methods.GetCurrentTime(context.Background(), sess.Client()); err != nil {
				return err
			}
			if sess.URL() != "https://"+host+"/sdk" {
				t.Errorf("session URL %s still carries credentials or lacks /sdk", sess.URL())
			}
			return nil
		})
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		for _, want := range []string{`"message":"vCenter connection settings"`, `"urlFrom":"GOVC_URL"`, `"message":"vCenter certificate will not be verified"`, `"message":"connected to vCenter"`} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("logs lack %s:\n%s", want, logs.String())
			}
		}
		if strings.Contains(logs.String(), "sim-secret-pw") || strings.Contains(stderr, "sim-secret-pw") {
			t.Errorf("the password shows in the output:\n%s\n%s", logs.String(), stderr)
		}
	})

	t.Run("a config file holding a password that others can read draws a warning", func(t *testing.T) {
		config := write(t, dir, "open.yaml", "username: u\npassword: pw\n") // written 0644
		var logs strings.Builder
		code, stderr := runConnect(t, []string{"--config", config}, func(f *Factory, cmd *cobra.Command) error {
			f.Log = zerolog.New(&logs)
			_, err := VCenterSessions(f, cmd, p, lookup())
			return err
		})
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(logs.String(), "chmod 600") {
			t.Errorf("no warning about the readable config file:\n%s", logs.String())
		}
	})
}

func TestConnectionErrorsAreTyped(t *testing.T) {
	// The CLI maps these to exit codes; they must stay reachable through
	// errors.Is and errors.As from whatever wraps them.
	err := errors.Join(errors.New("context"), &vsphere.ConnectError{VCenter: "crown", Kind: vsphere.ErrUnreachable, Err: errors.New("refused")})
	if !errors.Is(err, vsphere.ErrUnreachable) || errors.Is(err, vsphere.ErrBadCredentials) {
		t.Errorf("ConnectError's kind is not visible through errors.Is")
	}
}
