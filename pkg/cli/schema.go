package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wavectl/wavectl/pkg/plan"
)

// NewCmdSchema builds `wavectl schema`.
func NewCmdSchema(f *Factory, runF func(*IOStreams) error) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the plan's JSON Schema (for editors and CI)",
		Long: `Print the JSON Schema of a plan, generated from wavectl's own plan model so the
two cannot drift. Point your editor's YAML language server at it for completion
and inline checks, e.g. with a first line in the plan:

  # yaml-language-server: $schema=./wavectl.schema.json`,
		Example: `  wavectl schema > wavectl.schema.json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("schema takes no arguments, got %q", args[0])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(f.IO)
			}
			enc := json.NewEncoder(f.IO.Out)
			enc.SetIndent("", "  ")
			return enc.Encode(plan.Schema())
		},
	}
}
