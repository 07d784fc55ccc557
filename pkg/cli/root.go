// Package cli is wavectl's command line: cobra commands, viper settings,
// zerolog logging and exit codes.
package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"github.com/wavectl/wavectl/pkg/input"
	"github.com/wavectl/wavectl/pkg/redact"
	"github.com/wavectl/wavectl/pkg/term"
)

// MaxConfigBytes bounds the config file: a few settings, never megabytes.
const MaxConfigBytes = 1 << 20

// Version is set at build time with -ldflags "-X .../pkg/cli.Version=...".
var Version = "dev"

// Factory holds what commands share. Nothing in it connects anywhere:
// commands that need vCenter build their connection when they run.
type Factory struct {
	IO     *IOStreams
	Config *viper.Viper
	Log    zerolog.Logger

	// ownSignals is set once the command that runs is one that stops on
	// SIGINT/SIGTERM by itself (see ownSignals).
	ownSignals atomic.Bool
}

// ownSignals are the commands that handle SIGINT/SIGTERM themselves: they
// stop taking work and let what is in flight finish and be recorded,
// however long that takes. Every other command is given interruptGrace to
// stop by itself once the root's context is cancelled, and is then left
// behind: wavectl exits 130 whatever it was doing (reading, validating,
// seeding a simulator), none of which changes anything that must be
// finished.
//
// status is one too: `status --watch` ends on Ctrl-C with exit 0, as a
// viewer should; a plain status only reads.
var ownSignals = map[string]bool{"apply": true, "resume": true, "rollback": true, "status": true}

// interruptGrace is how long a command that does not drain has to return
// after SIGINT/SIGTERM before wavectl stops waiting for it.
const interruptGrace = 2 * time.Second

// errInterrupted is the exit of a command stopped by SIGINT/SIGTERM.
var errInterrupted = &ExitError{Code: ExitInterrupted, Err: errors.New("interrupted (SIGINT/SIGTERM)")}

// Main runs wavectl with the process's arguments and returns its exit code.
func Main() int {
	defer startProfiles()() // WAVECTL_CPUPROFILE, WAVECTL_MEMPROFILE (profile.go)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, System(), os.Args[1:])
}

// Run runs wavectl with args on the given streams and returns the exit
// code. Errors are printed on the error stream.
func Run(ctx context.Context, io *IOStreams, args []string) int {
	return run(ctx, io, args, NewRootCmd)
}

// run is Run with the command tree built by build. When ctx is cancelled
// (SIGINT/SIGTERM), a command not in ownSignals that does not return
// within interruptGrace is left running and 130 is returned; one that
// returns nil after the interrupt exits 130 too.
func run(ctx context.Context, io *IOStreams, args []string, build func(*Factory) *cobra.Command) int {
	ios := *io // setup may wrap the streams of a terminal
	f := &Factory{IO: &ios, Config: viper.New(), Log: zerolog.Nop()}
	root := build(f)
	root.SetArgs(args)
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		if f.ownSignals.Load() {
			err = <-done
			break
		}
		t := time.NewTimer(interruptGrace)
		select {
		case err = <-done:
		case <-t.C:
			err = errInterrupted
		}
		t.Stop()
	}
	if err == nil && ctx.Err() != nil && !f.ownSignals.Load() {
		err = silentExit(ExitInterrupted)
	}
	code := codeOf(err)
	if err != nil && err.Error() != "" {
		msg := err.Error()
		if code == ExitUsage {
			msg += "\nRun 'wavectl --help' for usage."
		}
		msg = redact.String(msg) // whatever a fault or a library put in it
		if io.ErrTTY {
			msg = term.EscapeText(msg)
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
			f.ownSignals.Store(ownSignals[cmd.Name()])
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
			// Read here, bounded, rather than by viper: a FIFO or
			// /dev/zero as the config file must not hang or exhaust us.
			data, err := input.ReadFile(cmd.Context(), file, "config file", MaxConfigBytes)
			if err != nil {
				return usageError{readError("config file", file, err)}
			}
			v.SetConfigFile(file) // for ConfigFileUsed
			v.SetConfigType("yaml")
			if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
				return usageError{fmt.Errorf("config file %s: %w", file, err)}
			}
		}
	}
	log, err := newLogger(f.IO.ErrOut, f.IO.ErrTTY, v.GetString("log-level"), v.GetString("log-format"))
	if err != nil {
		return usageError{err}
	}
	f.Log = log
	// What reaches a terminal is escaped (package term): names and messages
	// from a plan, vCenter or a hook cannot act on it. The commands that draw
	// progress bars keep a raw error stream; their bars and log lines escape
	// what they show themselves.
	if f.IO.OutTTY {
		f.IO.Out = term.NewWriter(f.IO.Out)
	}
	if f.IO.ErrTTY && !ownSignals[cmd.Name()] {
		f.IO.ErrOut = term.NewWriter(f.IO.ErrOut)
	}
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
	// Every log line passes through the redactor: a password in a URL or
	// an error that reached a message or a field is hidden there too.
	w = redactWriter{w}
	if format == "console" {
		// Field values are quoted (escaped) by zerolog when they need it;
		// the message is not.
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.Kitchen, NoColor: !tty, FormatMessage: func(i any) string {
			if i == nil {
				return ""
			}
			return term.EscapeText(fmt.Sprint(i))
		}}
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

// readError words a failed input.ReadFile: its own errors name the file
// already; the file system's get the file's kind and name in front.
func readError(what, path string, err error) error {
	var nr *input.NotRegularError
	var tl *input.TooLargeError
	if errors.As(err, &nr) || errors.As(err, &tl) || errors.Is(err, context.Canceled) {
		return err
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%s %s: %w", what, path, err)
}

// redactWriter hides credentials (redact.String) in what it writes: each
// Write is one whole log event.
type redactWriter struct{ w io.Writer }

func (r redactWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, redact.String(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
