// Command wavectl plans, runs and resumes data-centre migrations onto
// VMware vSphere.
package main

import (
	"os"

	"github.com/wavectl/wavectl/pkg/cli"
)

func main() { os.Exit(cli.Main()) }
