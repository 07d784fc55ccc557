// Package cli is wavectl's command line: cobra commands, viper settings,
// zerolog logging and exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Version is set at build time with -ldflags "-X .../pkg/cli.Version=...".
var Version = "dev"

// Factory holds what commands share. Nothing in it connects anywhere:
// commands that need vCenter build their connection when they run.
type Factory struct {
	IO     *IOStreams
	Config *viper.Viper
	Log    zerolog.Logger
}

// Main runs wavectl with the process's arguments and returns its exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, System(), os.Args[1:])
}

// Run runs wavectl with args on the given streams and returns the exit
// code. Errors are printed on the error stream.
func Run(ctx context.Context, io *IOStreams, args []string) int {
	f := &Factory{IO: io, Config: viper.New(), Log: zerolog.Nop()}
	root := NewRootCmd(f)
	root.SetArgs(args)
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	err := root.ExecuteContext(ctx)
	code := codeOf(err)
	if err != nil && err.Error() != "" {
		msg := err.Error()
		if code == ExitUsage {
			msg += "\nRun 'wavectl --help' for usage."
		}
		fmt.Fprintln(io.ErrOut, "Error: "+msg)
	}
	return code
}

// NewRootCmd builds the command tree.
func NewRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "wavectl",
		Short: "Plan, run and resume data-centre migrations onto VMware vSphere",
		Long: `wavectl moves applications onto VMware vSphere in waves or on a one-by-one
conveyor, as a YAML migration plan says: it checks the plan, shows what it
would do, and (with later commands) does it against vCenter, recording every
step so that a failed wave can be resumed safely.`,
		Version:           Version,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return f.setup(cmd)
		},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError{err}
	})
	pf := root.PersistentFlags()
	pf.String("config", "", "config file (default: $WAVECTL_CONFIG, else ~/.config/wavectl/config.yaml when it exists)")
	pf.String("log-level", "info", "log level: debug, info, warn, error")
	pf.String("log-format", "auto", "log format: auto (console on a terminal, JSON otherwise), console, json")

	root.AddCommand(
		NewCmdValidate(f, nil),
		NewCmdPlan(f, nil),
		NewCmdSchema(f, nil),
		NewCmdSim(f, nil),
		NewCmdApply(f, nil),
		NewCmdResume(f, nil),
		NewCmdRollback(f, nil),
		NewCmdStatus(f, nil),
		NewCmdUnlock(f, nil),
		NewCmdState(f),
		NewCmdReport(f, nil),
		NewCmdDiscover(f, nil),
		NewCmdApprove(f, nil),
		NewCmdEstimates(f, nil),
	)
	root.SetUsageTemplate(root.UsageTemplate() + "\n" + exitCodeHelp + "\n")
	addCompletions(root)
	return root
}

// setup reads the config file, binds flags and env, and sets up logging.
// Precedence: flags, then WAVECTL_* env, then the config file.
func (f *Factory) setup(cmd *cobra.Command) error {
	v := f.Config
	v.SetEnvPrefix("WAVECTL")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	for _, fs := range []*pflag.FlagSet{cmd.Flags(), cmd.InheritedFlags()} {
		if err := v.BindPFlags(fs); err != nil {
			return err
		}
	}
	file := v.GetString("config")
	explicit := file != ""
	if !explicit {
		if home, err := os.UserConfigDir(); err == nil {
			file = filepath.Join(home, "wavectl", "config.yaml")
		}
	}
	if file != "" {
		if _, err := os.Stat(file); err == nil || explicit {
			v.SetConfigFile(file)
			v.SetConfigType("yaml")
			if err := v.ReadInConfig(); err != nil {
				return usageError{fmt.Errorf("config file %s: %w", file, err)}
			}
		}
	}
	log, err := newLogger(f.IO.ErrOut, f.IO.ErrTTY, v.GetString("log-level"), v.GetString("log-format"))
	if err != nil {
		return usageError{err}
	}
	f.Log = log
	return nil
}

// logTo is the command's logger writing to w instead: same level and
// format.
func (f *Factory) logTo(w io.Writer) zerolog.Logger {
	l, err := newLogger(w, f.IO.ErrTTY, f.Config.GetString("log-level"), f.Config.GetString("log-format"))
	if err != nil {
		return f.Log
	}
	return l.Level(f.Log.GetLevel())
}

func newLogger(w io.Writer, tty bool, level, format string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil || level == "" {
		return zerolog.Nop(), fmt.Errorf("log level %q (from --log-level, WAVECTL_LOG_LEVEL or the config file): use debug, info, warn or error", level)
	}
	switch format {
	case "auto":
		if tty {
			format = "console"
		} else {
			format = "json"
		}
	case "console", "json":
	default:
		return zerolog.Nop(), fmt.Errorf("log format %q (from --log-format, WAVECTL_LOG_FORMAT or the config file): use auto, console or json", format)
	}
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.Kitchen, NoColor: !tty}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

// outputFormat reads -o/--output, the result's format, and checks it
// against the formats a command has (the first is its default). A format
// given on the command line must be one of them; one inherited from
// WAVECTL_OUTPUT or the config file, set for other commands, gives way to
// the default when it is a format of other commands (report has no text),
// and is refused when it is no format at all.
func outputFormat(f *Factory, cmd *cobra.Command, allowed ...string) (string, error) {
	o := f.Config.GetString("output")
	if slices.Contains(allowed, o) {
		return o, nil
	}
	if !outputInherited(cmd) {
		return "", usageError{fmt.Errorf("output format %q (from -o): use %s", o, strings.Join(allowed, " or "))}
	}
	if slices.Contains([]string{"text", "json", "md", "html"}, o) {
		f.Log.Debug().Str("output", o).Str("using", allowed[0]).Msg("the inherited output format is not one this command has")
		return allowed[0], nil
	}
	return "", usageError{fmt.Errorf("output format %q (from WAVECTL_OUTPUT or the config file): use %s", o, strings.Join(allowed, " or "))}
}

// outputInherited reports whether -o came from WAVECTL_OUTPUT or the
// config file rather than the command line.
func outputInherited(cmd *cobra.Command) bool {
	fl := cmd.Flags().Lookup("output")
	return fl == nil || !fl.Changed
}

// planArg checks that a plan file can be read, so that a wrong path is a
// usage error rather than an invalid plan.
func planArg(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return usageError{fmt.Errorf("plan file %s does not exist", path)}
		}
		return usageError{fmt.Errorf("plan file %s: %w", path, err)}
	}
	if st.IsDir() {
		return usageError{fmt.Errorf("%s is a folder; name a plan file (e.g. %s)", path, filepath.Join(path, "plan.yaml"))}
	}
	return nil
}
