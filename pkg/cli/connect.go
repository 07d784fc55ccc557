package cli

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cast"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

// connectionHelp is appended to the help of commands that reach vCenter.
const connectionHelp = `
vCenter connection: the plan names each vCenter with a URL. --vcenter NAME=URL
or WAVECTL_VCENTER_<NAME>_URL overrides one; --url, WAVECTL_URL or GOVC_URL
stands in for every vCenter without an override. Credentials come from
WAVECTL_USERNAME/WAVECTL_PASSWORD, GOVC_USERNAME/GOVC_PASSWORD (or a
user:password@ part of GOVC_URL), WAVECTL_VCENTER_<NAME>_USERNAME/_PASSWORD for
one vCenter, or the config file; never from the plan. Certificates are verified:
trust a self-signed one with --thumbprint or the plan's thumbprint, a private
CA with --ca-file (or GOVC_TLS_CA_CERTS); --insecure (GOVC_INSECURE=1) is for
labs. Flags beat env, which beats the config file.`

// AddConnectionFlags adds the flags that say how to reach vCenter. Each is
// also a config-file key of the same name and an env var (WAVECTL_ and the
// name in capitals, dashes as underscores); GOVC_* env is read too.
func AddConnectionFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.String("url", "", "vCenter SDK URL for every vCenter the plan names, unless --vcenter overrides it (env WAVECTL_URL, GOVC_URL)")
	fs.String("username", "", "vCenter user name (env WAVECTL_USERNAME, GOVC_USERNAME)")
	fs.String("password", "", "vCenter password; prefer env WAVECTL_PASSWORD or GOVC_PASSWORD, as a flag shows in the process list and shell history")
	fs.Bool("insecure", false, "do not verify vCenter certificates: labs only (env WAVECTL_INSECURE, GOVC_INSECURE)")
	fs.Bool("insecure-http", false, "accept http:// vCenter URLs, sending the login, password included, in clear text: labs only (env WAVECTL_INSECURE_HTTP)")
	fs.String("thumbprint", "", "trust the vCenter certificate with this SHA-1 or SHA-256 thumbprint (env WAVECTL_THUMBPRINT)")
	fs.String("ca-file", "", "PEM file of CA certificates to verify vCenter with (env WAVECTL_CA_FILE, GOVC_TLS_CA_CERTS)")
	fs.StringArray("vcenter", nil, "NAME=URL: reach the plan's vCenter NAME at URL; repeatable (env WAVECTL_VCENTER_<NAME>_URL)")
	cmd.Long += "\n" + connectionHelp
}

// ConnectionSources gathers the connection settings of a command that
// called AddConnectionFlags, layer by layer for vsphere.Resolve: the flags
// the user gave, the environment (through lookupEnv; nil means
// os.LookupEnv), and the config file that f.Config read. Layers are kept
// apart, rather than taken from viper's merged view, because GOVC_* env
// must rank between WAVECTL_* env and the config file.
func ConnectionSources(f *Factory, cmd *cobra.Command, lookupEnv func(string) (string, bool)) (vsphere.Sources, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	src := vsphere.Sources{Env: lookupEnv}

	fs := cmd.Flags()
	str := func(name string) string {
		if fl := fs.Lookup(name); fl != nil && fl.Changed {
			return fl.Value.String()
		}
		return ""
	}
	src.Flags = vsphere.Values{URL: str("url"), Username: str("username"), Password: str("password"),
		Thumbprint: str("thumbprint"), CAFile: str("ca-file")}
	src.AllowHTTP = f.Config.GetBool("insecure-http")
	if fl := fs.Lookup("insecure"); fl != nil && fl.Changed {
		b, err := fs.GetBool("insecure")
		if err != nil {
			return src, usageError{err}
		}
		src.Flags.Insecure = &b
	}
	if fl := fs.Lookup("vcenter"); fl != nil && fl.Changed {
		list, err := fs.GetStringArray("vcenter")
		if err != nil {
			return src, usageError{err}
		}
		if src.Flags.VCenters, err = vcenterOverrides(list, "--vcenter"); err != nil {
			return src, err
		}
	}

	cfg, err := configLayer(f.Config)
	if err != nil {
		return src, err
	}
	src.Config = cfg
	return src, nil
}

// configLayer reads the connection keys of the config file f.Config used,
// on their own, without flags and env mixed in.
func configLayer(v *viper.Viper) (vsphere.Values, error) {
	var out vsphere.Values
	file := v.ConfigFileUsed()
	if file == "" {
		return out, nil
	}
	c := viper.New()
	c.SetConfigFile(file)
	c.SetConfigType("yaml")
	if err := c.ReadInConfig(); err != nil {
		return out, usageError{fmt.Errorf("config file %s: %w", file, err)}
	}
	out = vsphere.Values{URL: c.GetString("url"), Username: c.GetString("username"), Password: c.GetString("password"),
		Thumbprint: c.GetString("thumbprint"), CAFile: c.GetString("ca-file")}
	if c.IsSet("insecure") {
		b, err := cast.ToBoolE(c.Get("insecure"))
		if err != nil {
			return out, usageError{fmt.Errorf("config file %s: insecure: use true or false", file)}
		}
		out.Insecure = &b
	}
	if c.IsSet("vcenter") {
		var list []string
		switch val := c.Get("vcenter").(type) {
		case map[string]any: // vcenter: {crown: https://...}
			for name, u := range val {
				list = append(list, name+"="+cast.ToString(u))
			}
			sort.Strings(list)
		default: // vcenter: [crown=https://...]
			var err error
			if list, err = cast.ToStringSliceE(val); err != nil {
				return out, usageError{fmt.Errorf("config file %s: vcenter: write it as a list of NAME=URL or a map of NAME: URL", file)}
			}
		}
		var err error
		if out.VCenters, err = vcenterOverrides(list, "vcenter in config file "+file); err != nil {
			return out, err
		}
	}
	return out, nil
}

// vcenterOverrides parses NAME=URL entries.
func vcenterOverrides(list []string, from string) (map[string]string, error) {
	m := make(map[string]string, len(list))
	for _, e := range list {
		name, u, ok := strings.Cut(e, "=")
		name, u = strings.TrimSpace(name), strings.TrimSpace(u)
		if !ok || name == "" || u == "" {
			shown := e
			if i := strings.LastIndex(e, "@"); i >= 0 {
				shown = "***@" + e[i+1:]
			}
			return nil, usageError{fmt.Errorf("%s %q: write it as NAME=URL, e.g. crown=https://vc.example/sdk", from, shown)}
		}
		if _, dup := m[name]; dup {
			return nil, usageError{fmt.Errorf("%s: vCenter %s is given twice", from, name)}
		}
		m[name] = u
	}
	return m, nil
}

// VCenterSessions works out how to reach each of the plan's vCenters and
// returns sessions that connect on first use. Missing or malformed
// settings are usage errors that say what to set. The caller must call
// CloseAll when the command is done.
func VCenterSessions(f *Factory, cmd *cobra.Command, p *plan.Plan, lookupEnv func(string) (string, bool)) (*vsphere.Sessions, error) {
	src, err := ConnectionSources(f, cmd, lookupEnv)
	if err != nil {
		return nil, err
	}
	settings, err := vsphere.Resolve(p, src)
	if err != nil {
		var se *vsphere.SettingsError
		if errors.As(err, &se) {
			return nil, usageError{err}
		}
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(settings)) {
		s := settings[name]
		f.Log.Debug().Str("vcenter", name).Object("settings", s).Str("urlFrom", s.Origin.URL).
			Str("usernameFrom", s.Origin.Username).Str("passwordFrom", s.Origin.Password).Str("trustFrom", s.Origin.Trust).
			Msg("vCenter connection settings")
		if s.Insecure {
			f.Log.Warn().Str("vcenter", name).Str("from", s.Origin.Trust).Msg("vCenter certificate will not be verified")
		}
	}
	if file := f.Config.ConfigFileUsed(); src.Config.Password != "" {
		if st, err := os.Stat(file); err == nil && st.Mode().Perm()&0o077 != 0 {
			f.Log.Warn().Str("file", file).Msg("the config file holds a password and others can read it: chmod 600 it, or use WAVECTL_PASSWORD")
		}
	}
	return vsphere.NewSessions(settings, f.Log, vsphere.WithUserAgent("wavectl/"+Version)), nil
}
