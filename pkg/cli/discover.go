package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/wavectl/wavectl/pkg/discover"
	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/redact"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

// DiscoverOptions are discover's parsed flags.
type DiscoverOptions struct {
	IO           *IOStreams
	Log          zerolog.Logger
	From         string // vcenter, rvtools or "" (servers only)
	File         string // the RVTools export
	Filter       discover.Filter
	Servers      string
	Dependencies string
	RulesFile    string
	GroupBy      string
	Name         string
	Target       discover.TargetRules
	TargetVC     string // NAME=URL or URL
	Networks     []string
	Out          string
	// OutDir: one plan per source (vCenter and datacenter) of the export,
	// written there.
	OutDir string
	// Strict: an unreadable row is fatal rather than left out.
	Strict bool
	// connect opens the source vCenter (vcenter only).
	connect func(ctx context.Context, name string) (discover.VCenterSource, func(), error)
}

// NewCmdDiscover builds `wavectl discover`.
func NewCmdDiscover(f *Factory, runF func(*DiscoverOptions) error) *cobra.Command {
	opts := &DiscoverOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "discover --from vcenter|rvtools [FILE]",
		Short: "Write a starter plan from the live estate or an RVTools export",
		Long: `Write a starter plan from an inventory: the source vCenter itself (--from
vcenter: every VM read in bulk, with tags and custom attributes), or an RVTools
export (--from rvtools FILE: the .xlsx, or its vInfo sheet saved as CSV), plus
a CSV of physical servers (--servers) and of dependencies (--dependencies).

VMs are grouped into applications by a rule (--group-by tag:CATEGORY,
attribute:NAME, folder, pattern:REGEX or name-stem; by default the first the
data supports: folder, an Application tag or attribute, else the stem of the
names, so that BBWMFG01 and BBWMFG02 are one); each application gets a suggested
strategy and each wave its applications, with the reason in a YAML comment
next to it. A rules file (--rules, see examples/discover/rules.yaml) sets the
grouping, the strategy rules, the target and the wave windows. The plan is
validated before it is written; a summary goes to stderr.

Rows that cannot be read (an inaccessible VM with no CPU or memory size, a
cell that is not a number) are left out, not fatal: the plan is written from
the rest, and its header and the summary list each row left out with its
sheet, row, VM and reason (--strict makes them fatal, for CI). Templates, VMs
a solution manages (vCLS agents, Workload Management, SRM placeholders) and
the vCenter appliance are left out the same way. An export that covers
several vCenters or datacenters needs --datacenter (DC or VCENTER/DC), or
--out-dir DIR for one plan per source.

Exit codes: 0 written (rows may have been left out: the summary says how
many); 2 a bad flag, a missing input file, or an export with several sources
and none chosen; 3 an input file (export, servers or dependency CSV, rules
file) with a mistake, named with its file and line or row (with --strict, an
unreadable row); 5 the vCenter could not be reached or refused the login;
130 interrupted.`,
		Example: `  wavectl discover --from rvtools RVTools_export.xlsx --rules examples/discover/rules.yaml --out plan.yaml
  wavectl discover --from rvtools RVTools_export.xlsx --group-by name-stem --out plan.yaml
  wavectl discover --from rvtools RVTools_export.xlsx --out-dir plans/
  wavectl discover --from vcenter --datacenter DC-OLD --group-by tag:Application --out plan.yaml
  wavectl discover --servers cmdb.csv --target-datacenter DC1 --target-cluster C1 --target-datastore ds1`,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := f.Config
			opts.From = v.GetString("from")
			switch opts.From {
			case "rvtools":
				if len(args) != 1 {
					return usageError{errors.New("--from rvtools needs the export: wavectl discover --from rvtools FILE.xlsx (or the vInfo sheet as .csv)")}
				}
				opts.File = args[0]
			case "vcenter", "":
				if len(args) > 0 {
					return usageError{fmt.Errorf("unexpected argument %q: only --from rvtools takes a file", args[0])}
				}
				if opts.From == "" && v.GetString("servers") == "" {
					return usageError{errors.New("discover needs --from vcenter, --from rvtools FILE, or --servers FILE.csv")}
				}
			default:
				return usageError{fmt.Errorf("--from %q: use vcenter or rvtools", opts.From)}
			}
			opts.Filter = discover.Filter{Datacenter: v.GetString("datacenter"), Cluster: v.GetString("cluster"), Folder: v.GetString("folder")}
			opts.Servers = v.GetString("servers")
			opts.Dependencies = v.GetString("dependencies")
			opts.RulesFile = v.GetString("rules")
			opts.GroupBy = v.GetString("group-by")
			opts.Name = v.GetString("name")
			opts.TargetVC = v.GetString("target-vcenter")
			opts.Target = discover.TargetRules{Datacenter: v.GetString("target-datacenter"), Cluster: v.GetString("target-cluster"),
				Datastore: v.GetString("target-datastore"), Folder: v.GetString("target-folder")}
			opts.Networks, _ = cmd.Flags().GetStringArray("network")
			opts.Out = v.GetString("out")
			opts.OutDir = v.GetString("out-dir")
			opts.Strict = v.GetBool("strict")
			// -o is the output format everywhere; discover writes YAML.
			// -o FILE, from before --out, still works, with a warning.
			if fl := cmd.Flags().Lookup("output"); fl != nil && fl.Changed {
				switch o := fl.Value.String(); o {
				case "yaml":
				case "text", "json", "md", "html":
					return usageError{fmt.Errorf("-o %s: discover writes a plan, in YAML; write the file with --out FILE", o)}
				default:
					if opts.Out != "" {
						return usageError{fmt.Errorf("-o %s and --out %s: -o is the output format; name the file with --out only", o, opts.Out)}
					}
					fmt.Fprintf(f.IO.ErrOut, "Warning: -o FILE is deprecated: -o is the output format everywhere in wavectl; write --out %s\n", o)
					opts.Out = o
				}
			}
			if opts.OutDir != "" && opts.Out != "" {
				return usageError{errors.New("--out and --out-dir: name one file, or a folder for one plan per source")}
			}
			opts.Log = f.Log
			opts.connect = func(ctx context.Context, name string) (discover.VCenterSource, func(), error) {
				return connectSource(ctx, f, cmd, name)
			}
			if runF != nil {
				return runF(opts)
			}
			return discoverRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.String("from", "", "where the inventory comes from: vcenter, or rvtools FILE")
	fl.String("datacenter", "", "source datacenter (needed when the vCenter or export has several; VCENTER/DC picks one of an export of several vCenters)")
	fl.String("cluster", "", "only VMs in this cluster")
	fl.String("folder", "", "only VMs in this VM folder (a path under the datacenter's vm folder); it becomes source.folder")
	fl.String("servers", "", "CSV of physical servers: name, cpus, memoryMB, disksGB[, application, criticality, users, networks]")
	fl.String("dependencies", "", "CSV of application,dependsOn pairs")
	fl.String("rules", "", "rules file (see examples/discover/rules.yaml); defaults are in the README")
	fl.String("group-by", "", "how VMs form applications: tag:CATEGORY, attribute:NAME, folder, pattern:REGEX or name-stem (default: the rules file's, else the first the data supports)")
	fl.String("name", "", "the plan's metadata.name (default: the rules file's, else discovered)")
	fl.String("target-vcenter", "", "the target vCenter, as NAME=URL or URL, when it is not the source one")
	fl.String("target-datacenter", "", "target datacenter")
	fl.String("target-cluster", "", "target cluster")
	fl.String("target-datastore", "", "target datastore")
	fl.String("target-folder", "", "target VM folder")
	fl.StringArray("network", nil, "SRC=DST: map a source network to a target portgroup (repeatable; default the same name)")
	fl.String("out", "", "write the plan to this file (default stdout)")
	fl.String("out-dir", "", "write one plan per source (vCenter and datacenter) of the export into this folder")
	fl.StringP("output", "o", "yaml", "output format: yaml (-o FILE, the old spelling of --out FILE, still works with a warning)")
	fl.Bool("strict", false, "fail on a row that cannot be read (default: leave it out and list it)")
	AddConnectionFlags(cmd)
	return cmd
}

func discoverRun(ctx context.Context, opts *DiscoverOptions) error {
	for _, in := range []struct{ flag, path string }{{"the export", opts.File}, {"--servers", opts.Servers}, {"--dependencies", opts.Dependencies}, {"--rules", opts.RulesFile}} {
		if in.path == "" {
			continue
		}
		if st, err := os.Stat(in.path); err != nil {
			return usageError{fmt.Errorf("%s: %s cannot be read: %v", in.flag, in.path, unwrapPath(err))}
		} else if st.IsDir() {
			return usageError{fmt.Errorf("%s: %s is a folder; name a file", in.flag, in.path)}
		}
	}
	if opts.OutDir != "" {
		if opts.From != "rvtools" {
			return usageError{errors.New("--out-dir writes one plan per source of an RVTools export: use it with --from rvtools FILE")}
		}
		if opts.Servers != "" || opts.Dependencies != "" {
			return usageError{errors.New("--out-dir with --servers or --dependencies: physical servers and dependencies belong to no one source; discover them into one plan with --datacenter")}
		}
	}
	rules := discover.DefaultRules()
	var err error
	if opts.RulesFile != "" {
		if rules, err = discover.LoadRules(opts.RulesFile); err != nil {
			return inputError(err)
		}
	}
	if err := applyFlags(rules, opts); err != nil {
		return err
	}

	invs := []*discover.Inventory{nil}
	ro := discover.ReadOptions{Strict: opts.Strict}
	switch opts.From {
	case "rvtools":
		if opts.OutDir != "" {
			invs, err = discover.ReadRVToolsSources(ctx, opts.File, opts.Filter, ro)
		} else {
			invs[0], err = discover.ReadRVTools(ctx, opts.File, opts.Filter, ro)
		}
		if err != nil {
			var se *discover.SourcesError
			if errors.As(err, &se) {
				return usageError{err}
			}
			return inputError(err)
		}
	case "vcenter":
		name := rules.Source.VCenter
		src, done, err := opts.connect(ctx, name)
		if err != nil {
			return err
		}
		defer done()
		if invs[0], err = discover.ReadVCenter(ctx, src, opts.Filter, rules.TagCategories()); err != nil {
			return inputError(err)
		}
		for _, l := range invs[0].LeftOut {
			if l.Unreadable && opts.Strict {
				return exitf(ExitInvalid, "%s (--strict: without it, the VM is left out and listed)", l)
			}
		}
	}
	in := discover.Input{Rules: rules}
	if opts.Servers != "" {
		if in.Servers, _, err = discover.ReadServers(ctx, opts.Servers); err != nil {
			return inputError(err)
		}
	}
	if opts.Dependencies != "" {
		if in.Dependencies, err = discover.ReadDependencies(ctx, opts.Dependencies); err != nil {
			return inputError(err)
		}
	}
	if opts.OutDir != "" {
		if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
			return exitf(ExitFailure, "--out-dir %s: %v", opts.OutDir, unwrapPath(err))
		}
	}
	var failed error
	for _, inv := range invs {
		if err := ctx.Err(); err != nil {
			return err
		}
		one := in
		one.Inventory = inv
		out := opts.Out
		if opts.OutDir != "" {
			r := *rules
			r.Plan.Name = strings.Trim(r.Plan.Name+"-"+inv.Source(), "-")
			one.Rules = &r
			out = filepath.Join(opts.OutDir, fileName(inv.Source())+".yaml")
			if len(invs) > 1 {
				fmt.Fprintf(opts.IO.ErrOut, "== %s\n", inv.Source())
			}
		}
		if err := discoverOne(opts, one, out); err != nil && failed == nil {
			failed = err
		}
	}
	return failed
}

var fileNameBad = regexp.MustCompile(`[^a-z0-9._-]+`)

// fileName makes a plan's file name of a source's name.
func fileName(s string) string {
	s = strings.Trim(fileNameBad.ReplaceAllString(strings.ToLower(s), "-"), "-.")
	if s == "" {
		return "discovered"
	}
	return s
}

// discoverOne builds, checks and writes one plan, then its summary.
func discoverOne(opts *DiscoverOptions, in discover.Input, out string) error {
	res, err := discover.Build(in)
	if err != nil {
		return inputError(err)
	}
	data, err := res.Write()
	if err != nil {
		return err
	}
	name := out
	if name == "" {
		name = "(stdout)"
	}
	_, probs, loadErr := plan.Load(name, data)
	if out != "" {
		if err := writeFileAtomic(out, data, 0o644); err != nil {
			return exitf(ExitFailure, "write %s: %v", out, err)
		}
	} else if _, err := opts.IO.Out.Write(data); err != nil {
		return err
	}
	summary(opts, res, probs, out)
	if loadErr != nil {
		return exitf(ExitInvalid, "the plan written does not validate (a wavectl bug, or a name in the input it cannot take): see the problems above, fix them in the plan or the input")
	}
	return nil
}

// applyFlags puts the flags over the rules file.
func applyFlags(r *discover.Rules, opts *DiscoverOptions) error {
	if opts.GroupBy != "" {
		if _, err := discover.ParseSource(opts.GroupBy); err != nil {
			return usageError{fmt.Errorf("--group-by %v", err)}
		}
		r.GroupBy = opts.GroupBy
	}
	if opts.Name != "" {
		r.Plan.Name = opts.Name
	}
	t := opts.Target
	for _, x := range []struct {
		dst *string
		v   string
	}{{&r.Target.Datacenter, t.Datacenter}, {&r.Target.Cluster, t.Cluster}, {&r.Target.Datastore, t.Datastore}, {&r.Target.Folder, t.Folder}} {
		if x.v != "" {
			*x.dst = x.v
		}
	}
	if vc := opts.TargetVC; vc != "" {
		name, u, ok := strings.Cut(vc, "=")
		if !ok {
			name, u = "target", vc
		}
		if pu, err := url.Parse(u); err != nil || pu.Host == "" || pu.User != nil {
			return usageError{fmt.Errorf("--target-vcenter %q: write NAME=https://HOST/sdk or https://HOST/sdk, without credentials", redact.URL(vc))}
		}
		r.Target.VCenter, r.Target.URL = name, u
	}
	for _, n := range opts.Networks {
		src, dst, ok := strings.Cut(n, "=")
		if !ok || strings.TrimSpace(src) == "" || strings.TrimSpace(dst) == "" {
			return usageError{fmt.Errorf("--network %q: write SRC=DST, e.g. \"VM Network=pg-app-101\"", n)}
		}
		if r.Target.Networks == nil {
			r.Target.Networks = map[string]string{}
		}
		r.Target.Networks[strings.TrimSpace(src)] = strings.TrimSpace(dst)
	}
	// The flags replaced some of what the rules file said: check again.
	if err := r.Check("flags"); err != nil {
		return usageError{err}
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// inputError maps a mistake in an input file to exit code 3; anything
// else keeps its own code.
func inputError(err error) error {
	var ie *discover.InputError
	var re *discover.RulesError
	if errors.As(err, &ie) || errors.As(err, &re) {
		return exitf(ExitInvalid, "%v", err)
	}
	if errors.Is(err, os.ErrNotExist) {
		return usageError{err}
	}
	return err
}

// connectSource logs in to the source vCenter, with the connection
// settings every command takes (flags, WAVECTL_*, GOVC_*, config file).
func connectSource(ctx context.Context, f *Factory, cmd *cobra.Command, name string) (discover.VCenterSource, func(), error) {
	src, err := ConnectionSources(f, cmd, nil)
	if err != nil {
		return discover.VCenterSource{}, nil, err
	}
	p := &plan.Plan{VCenters: map[string]plan.VCenter{name: {}}}
	settings, err := vsphere.Resolve(p, src)
	if err != nil {
		var se *vsphere.SettingsError
		if errors.As(err, &se) {
			return discover.VCenterSource{}, nil, usageError{err}
		}
		return discover.VCenterSource{}, nil, err
	}
	s := settings[name]
	sess, err := vsphere.Connect(ctx, name, s, f.Log, vsphere.WithUserAgent("wavectl/"+Version))
	if err != nil {
		return discover.VCenterSource{}, nil, err
	}
	var user *url.Userinfo
	if s.Username != "" {
		user = url.UserPassword(s.Username, s.Password)
	}
	return discover.VCenterSource{Client: sess.Client(), URL: s.URL, User: user}, func() { _ = sess.Logout(context.Background()) }, nil
}

// summary tells the engineer, on stderr, what was read and suggested.
func summary(opts *DiscoverOptions, res *discover.Result, probs plan.Problems, out string) {
	w := opts.IO.ErrOut
	inv := res.Inventory
	vms, servers := len(inv.VMs), 0
	for _, a := range res.Apps {
		servers += len(a.Servers)
	}
	fmt.Fprintf(w, "Read %s from %s", plural(vms, "VM"), inv.From)
	if inv.Datacenter != "" {
		fmt.Fprintf(w, " (datacenter %s)", inv.Datacenter)
	}
	if servers > 0 {
		fmt.Fprintf(w, ", and %s from %s", plural(servers, "physical server"), opts.Servers)
	}
	fmt.Fprintln(w, ".")
	for _, k := range slices.Sorted(maps.Keys(inv.Skipped)) {
		fmt.Fprintf(w, "Left out: %d %s.\n", inv.Skipped[k], k)
	}
	var bad, notOurs []discover.LeftOut
	for _, l := range inv.LeftOut {
		if l.Unreadable {
			bad = append(bad, l)
		} else {
			notOurs = append(notOurs, l)
		}
	}
	const shown = 20
	for _, g := range []struct {
		list []discover.LeftOut
		what string
	}{{bad, "that could not be read"}, {notOurs, "not the migration's to move"}} {
		if len(g.list) == 0 {
			continue
		}
		unit := "row"
		if !g.list[0].Unreadable {
			unit = "VM"
		}
		fmt.Fprintf(w, "Left out: %s %s (listed at the top of the plan):\n", plural(len(g.list), unit), g.what)
		for i, l := range g.list {
			if i == shown {
				fmt.Fprintf(w, "  ... and %d more\n", len(g.list)-shown)
				break
			}
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	if len(inv.Columns) > 0 {
		var cols []string
		for _, a := range discover.Aliases {
			if c, ok := inv.Columns[a.Field]; ok {
				cols = append(cols, fmt.Sprintf("%s=%q", a.Field, c))
			}
		}
		if c, ok := inv.Columns["networks"]; ok {
			cols = append(cols, fmt.Sprintf("networks=%q", c))
		}
		fmt.Fprintf(w, "Columns used: %s.\n", strings.Join(cols, ", "))
	}
	if len(inv.Sheets) > 0 {
		var sheets []string
		for _, s := range []string{"vDisk", "vNetwork", "vHost", "vCPU", "vMemory", "vPartition"} {
			if c, ok := inv.Sheets[s]; ok {
				sheets = append(sheets, fmt.Sprintf("%s (%s)", s, c))
			}
		}
		fmt.Fprintf(w, "Sheets used besides vInfo: %s.\n", strings.Join(sheets, ", "))
	}
	var counts []string
	for _, s := range plan.Strategies {
		if n := res.Counts[s]; n > 0 {
			counts = append(counts, fmt.Sprintf("%s %d", s, n))
		}
	}
	by := res.GroupBy.String()
	if res.GroupWhy != "" {
		by += " (chosen: " + res.GroupWhy + "; --group-by to choose)"
	}
	fmt.Fprintf(w, "Suggested %s grouped by %s: %s.\n", plural(len(res.Apps), "application"), by, strings.Join(counts, ", "))
	fmt.Fprintf(w, "Suggested %s and %s on the conveyor.\n", plural(len(res.Waves), "wave"), plural(len(res.Conveyor), "application"))
	for _, n := range res.Notes {
		fmt.Fprintf(w, "Note: %s.\n", n)
	}
	for _, p := range probs {
		fmt.Fprintln(w, p.String())
	}
	switch {
	case probs.Errors() > 0:
	case out != "":
		fmt.Fprintf(w, "Wrote %s (valid, %s). Review the suggestions, then: wavectl plan --offline %s\n", out, plural(probs.Warnings(), "warning"), out)
	default:
		fmt.Fprintf(w, "The plan is valid (%s).\n", plural(probs.Warnings(), "warning"))
	}
}
