package cli

import (
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/state"
)

// Shell completion that knows the plan: wave and application names for
// --wave and --app, read from the plan the command would use; the formats
// a command has for -o; state files for --state; plan files for PLAN.
// Completion never connects anywhere and never prints an error: a plan it
// cannot read completes nothing.

// formatsOf are the -o values of each command that has -o.
var formatsOf = map[string][]string{
	"validate": {"text", "json"},
	"plan":     {"text", "json"},
	"status":   {"text", "json"},
	"apply":    {"text", "json"},
	"resume":   {"text", "json"},
	"rollback": {"text", "json"},
	"report":   {"md", "html", "json"},
}

// addCompletions registers the completion functions on every command of
// the tree that has the flags they complete.
func addCompletions(root *cobra.Command) {
	var all []*cobra.Command
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			all = append(all, sub)
			walk(sub)
		}
	}
	walk(root)
	for _, cmd := range all {
		fl := cmd.Flags()
		if fl.Lookup("wave") != nil {
			_ = cmd.RegisterFlagCompletionFunc("wave", func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
				return names(completionPlan(cmd, args), toComplete, waveNames), cobra.ShellCompDirectiveNoFileComp
			})
		}
		if fl.Lookup("app") != nil {
			_ = cmd.RegisterFlagCompletionFunc("app", func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
				return names(completionPlan(cmd, args), toComplete, appNames), cobra.ShellCompDirectiveNoFileComp
			})
		}
		if formats, ok := formatsOf[cmd.Name()]; ok && fl.Lookup("output") != nil {
			_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(formats, cobra.ShellCompDirectiveNoFileComp))
		}
		if fl.Lookup("progress") != nil {
			_ = cmd.RegisterFlagCompletionFunc("progress", cobra.FixedCompletions([]string{"auto", "bars", "plain", "none"}, cobra.ShellCompDirectiveNoFileComp))
		}
		if fl.Lookup("state") != nil {
			_ = cmd.RegisterFlagCompletionFunc("state", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
				return []string{"json"}, cobra.ShellCompDirectiveFilterFileExt
			})
		}
		if fl.Lookup("plan") != nil {
			_ = cmd.RegisterFlagCompletionFunc("plan", yamlFiles)
		}
		switch cmd.Name() {
		case "validate":
			cmd.ValidArgsFunction = yamlFiles
		case "plan", "apply", "resume", "rollback", "status", "report":
			cmd.ValidArgsFunction = onePlan
		}
	}
	_ = root.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions([]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
	_ = root.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions([]string{"auto", "console", "json"}, cobra.ShellCompDirectiveNoFileComp))
}

// onePlan completes the one PLAN argument of a command.
func onePlan(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return yamlFiles(cmd, args, toComplete)
}

func yamlFiles(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
}

// completionPlan is the plan a command would use: its PLAN argument, else
// --plan, else the one the state file records (--state, or the one
// *.state.json in the working directory).
func completionPlan(cmd *cobra.Command, args []string) *plan.Plan {
	file := ""
	if len(args) > 0 {
		file = args[0]
	} else if fl := cmd.Flags().Lookup("plan"); fl != nil && fl.Value.String() != "" {
		file = fl.Value.String()
	} else {
		so := &StatusOptions{IO: &IOStreams{}, Dir: "."}
		if fl := cmd.Flags().Lookup("state"); fl != nil {
			so.State = fl.Value.String()
		}
		path, _, err := statePath(so)
		if err != nil {
			return nil
		}
		st, err := state.Read(path)
		if err != nil {
			return nil
		}
		file = st.PlanFile
	}
	if _, err := os.Stat(file); err != nil {
		return nil
	}
	p, _, err := plan.LoadFile(file)
	if err != nil {
		return nil
	}
	return p
}

func waveNames(p *plan.Plan) []string {
	var out []string
	for _, w := range p.Waves {
		if w != nil {
			out = append(out, w.Name)
		}
	}
	return out
}

func appNames(p *plan.Plan) []string {
	var out []string
	for _, a := range p.Applications {
		if a != nil {
			out = append(out, a.Name)
		}
	}
	return out
}

// names lists what of a plan starts with toComplete.
func names(p *plan.Plan, toComplete string, of func(*plan.Plan) []string) []string {
	if p == nil {
		return nil
	}
	var out []string
	for _, n := range of(p) {
		if strings.HasPrefix(n, toComplete) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
