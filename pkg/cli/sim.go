package cli

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wavectl/wavectl/pkg/vsphere/sim"
)

// SimOptions are sim's parsed flags.
type SimOptions struct {
	IO      *IOStreams
	Plan    string
	Listen  string
	EnvFile string
	Sim     sim.Options
}

// NewCmdSim builds `wavectl sim`.
func NewCmdSim(f *Factory, runF func(*SimOptions) error) *cobra.Command {
	opts := &SimOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "sim --plan PLAN",
		Short: "Serve a vCenter simulator seeded with a plan's estate",
		Long: `Serve govmomi's vCenter simulator on loopback, seeded from a plan: the source
datacenter with the plan's VMs and templates, and the target datacenters with
the clusters, hosts, datastores, portgroups, folders and resource pools the
plan names, sized to hold it. Each vCenter the plan names is its own
simulator (own URL, credentials, certificate, instance UUID and inventory);
names that share a URL share one. Prints the export lines that point govc and
wavectl at them (WAVECTL_VCENTER_<NAME>_URL and friends per vCenter when
there are several; GOVC_* at the source vCenter), then serves until
interrupted (Ctrl-C). With several vCenters, --listen's port is the source
vCenter's and the others take the ports after it.

Delays and faults make rehearsals slow and unreliable on purpose:
  --delay CloneVM_Task=30s       every clone task takes 30s (repeatable)
  --jitter 0.2                   delays vary by 20% (coefficient of variation)
  --fault CloneVM_Task=0.05      5% of clones fail with a transient fault
  --fault PowerOnVM_Task=permanent:0.1   10% of power-ons fail for good
  --fault RelocateVM_Task=vm:db-01,db-02 those VMs' relocations always fail

With several vCenters, --env-file FILE also writes FILE.<name> per vCenter,
whose GOVC_* lines point govc at that vCenter alone.`,
		Example: `  wavectl sim --plan examples/demo.yaml --env-file sim.env &   # serves until Ctrl-C
  . ./sim.env && govc ls /DC1/vm                               # then any govc or wavectl command`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("sim takes the plan as --plan PLAN, not %q", args[0])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Plan = f.Config.GetString("plan")
			if opts.Plan == "" {
				return usageError{errors.New("sim needs --plan PLAN")}
			}
			opts.Listen = f.Config.GetString("listen")
			opts.EnvFile = f.Config.GetString("env-file")
			var err error
			if opts.Sim, err = simOptions(f.Config.GetStringSlice("delay"), f.Config.GetFloat64("jitter"), f.Config.GetStringSlice("fault"), f.Config.GetInt64("seed")); err != nil {
				return usageError{err}
			}
			if runF != nil {
				return runF(opts)
			}
			return simRun(cmd, f, opts)
		},
	}
	fl := cmd.Flags()
	fl.String("plan", "", "plan whose estate the simulator holds")
	fl.String("listen", sim.DefaultListen, "loopback address to serve on (port 0 picks a free one)")
	fl.String("env-file", "", "also write the export lines to this file (and, with several vCenters, FILE.<name> with govc's lines for each)")
	fl.StringSlice("delay", nil, "OP=DURATION: how long OP's tasks run (repeatable)")
	fl.Float64("jitter", 0, "variation of every delay, as a coefficient of variation (0.2 = 20%)")
	fl.StringSlice("fault", nil, "OP=FRACTION, OP=permanent:FRACTION or OP=vm:NAME[,NAME]: injected failures (repeatable)")
	fl.Int64("seed", 1, "seed for fault draws and jitter, for repeatable rehearsals")
	return cmd
}

// delayOps are the vSphere task methods wavectl's steps start, which
// --delay can slow down: an unknown name would delay nothing, silently.
func delayOps() []string {
	ops := []string{"RevertToSnapshot_Task", "RevertToCurrentSnapshot_Task", "RemoveAllSnapshots_Task",
		"Rename_Task", "CustomizeVM_Task", "ResetVM_Task"}
	for op := range sim.RealisticDelays {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	return slices.Compact(ops)
}

// simOptions parses the --delay and --fault flags.
func simOptions(delays []string, jitter float64, faults []string, seed int64) (sim.Options, error) {
	o := sim.Options{Jitter: jitter, Seed: seed, Delays: map[string]time.Duration{}}
	for _, d := range delays {
		op, v, ok := strings.Cut(d, "=")
		dur, err := time.ParseDuration(v)
		if !ok || op == "" || err != nil || dur < 0 {
			return o, fmt.Errorf("--delay %q: write OP=DURATION, e.g. CloneVM_Task=30s", d)
		}
		if !slices.Contains(delayOps(), op) {
			msg := fmt.Sprintf("--delay %q: %s is not a task the simulator runs for wavectl; ", d, op)
			if m := didYouMean(op, delayOps()); m != "" {
				msg += fmt.Sprintf("did you mean %s? Valid: ", m)
			} else {
				msg += "use one of: "
			}
			return o, errors.New(msg + strings.Join(delayOps(), ", "))
		}
		o.Delays[op] = dur
	}
	for _, spec := range faults {
		op, v, ok := strings.Cut(spec, "=")
		if !ok || op == "" || v == "" {
			return o, fmt.Errorf("--fault %q: write OP=FRACTION, OP=permanent:FRACTION or OP=vm:NAME[,NAME]", spec)
		}
		fl := sim.Fault{Op: op, Transient: true}
		switch {
		case strings.HasPrefix(v, "vm:"):
			fl.Transient = false
			fl.VMs = strings.Split(strings.TrimPrefix(v, "vm:"), ",")
		case strings.HasPrefix(v, "permanent:"):
			fl.Transient = false
			v = strings.TrimPrefix(v, "permanent:")
			fallthrough
		default:
			x, err := strconv.ParseFloat(v, 64)
			if err != nil || x <= 0 || x > 1 {
				return o, fmt.Errorf("--fault %q: the fraction must be a number in (0, 1], e.g. 0.05", spec)
			}
			fl.Fraction = x
		}
		o.Faults = append(o.Faults, fl)
	}
	return o, nil
}

func simRun(cmd *cobra.Command, f *Factory, opts *SimOptions) error {
	p, err := loadPlan(opts.IO, opts.Plan)
	if err != nil {
		return err
	}
	quietSimulator(f)
	e, err := sim.NewEstateContext(cmd.Context(), p, opts.Sim)
	if err != nil {
		if cmd.Context().Err() != nil {
			return silentExit(ExitInterrupted)
		}
		return usageError{err}
	}
	defer e.Close()
	if err := e.Start(opts.Listen); err != nil {
		return usageError{err}
	}
	env := strings.Join(e.Env(), "\n") + "\n"
	fmt.Fprint(opts.IO.Out, env)
	if opts.EnvFile != "" {
		if err := os.WriteFile(opts.EnvFile, []byte(env), 0o600); err != nil {
			return exitf(ExitFailure, "write %s: %v", opts.EnvFile, err)
		}
		// With several vCenters, govc users get a file per vCenter too:
		// FILE.<name> points GOVC_* at that one.
		if len(e.Sims()) > 1 {
			for _, s := range e.Sims() {
				for _, name := range e.VCenters(s) {
					file := opts.EnvFile + "." + name
					if err := os.WriteFile(file, []byte(strings.Join(e.GovcEnv(name), "\n")+"\n"), 0o600); err != nil {
						return exitf(ExitFailure, "write %s: %v", file, err)
					}
				}
			}
		}
	}
	for _, s := range e.Sims() {
		sum := s.Summary()
		f.Log.Info().Str("url", s.URL().Redacted()).Strs("vcenters", e.VCenters(s)).Str("plan", p.Metadata.Name).
			Int("datacenters", sum.Datacenters).Int("clusters", sum.Clusters).Int("hosts", sum.Hosts).
			Int("vms", sum.VMs).Int("templates", sum.Templates).Str("budgets", budgetsText(p.Limits)).Msg("simulator serving; Ctrl-C stops it")
	}
	<-cmd.Context().Done()
	f.Log.Info().Msg("simulator stopped")
	return nil
}
