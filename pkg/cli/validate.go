package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/wavectl/wavectl/pkg/plan"
)

// ValidateOptions are validate's parsed flags.
type ValidateOptions struct {
	IO     *IOStreams
	Log    zerolog.Logger
	Plans  []string
	Output string
	Strict bool
}

// NewCmdValidate builds `wavectl validate`. runF replaces the run function
// in tests.
func NewCmdValidate(f *Factory, runF func(*ValidateOptions) error) *cobra.Command {
	opts := &ValidateOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "validate PLAN...",
		Short: "Check plans offline: schema, references, dependencies, windows",
		Long: `Check one or more plans without contacting vCenter: unknown or mistyped
fields, strategy settings, duplicate names, references between applications,
waves and vCenters, dependency cycles and order, and change windows. Every
problem is reported with file:line:col and a hint, all in one pass.`,
		Example: `  wavectl validate examples/demo.yaml
  wavectl validate -o json examples/*.yaml   # for CI
  wavectl validate --strict plans/*.yaml     # warnings fail too`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("validate needs at least one plan file")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Plans = args
			var err error
			if opts.Output, err = outputFormat(f, cmd, "text", "json"); err != nil {
				return err
			}
			opts.Strict = f.Config.GetBool("strict")
			opts.Log = f.Log
			if runF != nil {
				return runF(opts)
			}
			return validateRun(opts)
		},
	}
	cmd.Flags().StringP("output", "o", "text", "output format: text or json")
	cmd.Flags().Bool("strict", false, "treat warnings as errors")
	return cmd
}

type validateResult struct {
	File     string        `json:"file"`
	Valid    bool          `json:"valid"`
	Errors   int           `json:"errors"`
	Warnings int           `json:"warnings"`
	Problems plan.Problems `json:"problems"`
}

func validateRun(opts *ValidateOptions) error {
	for _, p := range opts.Plans {
		if err := planArg(p); err != nil {
			return err
		}
	}
	results := make([]validateResult, 0, len(opts.Plans))
	allValid := true
	for _, path := range opts.Plans {
		p, probs, err := plan.LoadFile(path)
		var inv *plan.InvalidError
		if err != nil && !errors.As(err, &inv) {
			return exitf(ExitUsage, "%v", err)
		}
		if p != nil && err == nil {
			// Hooks whose program is not there: a warning here, as the
			// plan may be checked away from the machine that runs it;
			// plan and apply refuse them.
			probs = append(probs, HookProblems(p, plan.SeverityWarning, nil)...)
		}
		if probs == nil {
			probs = plan.Problems{}
		}
		r := validateResult{File: path, Errors: probs.Errors(), Warnings: probs.Warnings(), Problems: probs}
		r.Valid = r.Errors == 0 && (!opts.Strict || r.Warnings == 0)
		opts.Log.Debug().Str("plan", path).Int("errors", r.Errors).Int("warnings", r.Warnings).Msg("validated")
		allValid = allValid && r.Valid
		results = append(results, r)
	}
	if opts.Output == "json" {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Valid bool             `json:"valid"`
			Files []validateResult `json:"files"`
		}{allValid, results}); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			for _, p := range r.Problems {
				fmt.Fprintln(opts.IO.Out, p.String())
			}
			fmt.Fprintf(opts.IO.Out, "%s: %s\n", r.File, verdict(r))
		}
	}
	if !allValid {
		return silentExit(ExitInvalid)
	}
	return nil
}

func verdict(r validateResult) string {
	if r.Errors == 0 && r.Warnings == 0 {
		return "valid"
	}
	if r.Valid {
		return fmt.Sprintf("valid, %s", plural(r.Warnings, "warning"))
	}
	if r.Errors == 0 {
		return fmt.Sprintf("invalid under --strict, %s", plural(r.Warnings, "warning"))
	}
	return fmt.Sprintf("invalid, %s, %s", plural(r.Errors, "error"), plural(r.Warnings, "warning"))
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
