package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/wavectl/wavectl/pkg/schedule"
)

// NameHoursAvoided names the user-hours live moves save.
const NameHoursAvoided = "projected user-hours avoided"

// writeMoves says, for a remediate application, which VMs move live and
// which cold, and why, grouping VMs that share a reason.
func writeMoves(w io.Writer, a *schedule.App) {
	if len(a.Moves) == 0 {
		return
	}
	type group struct {
		live bool
		why  string
		vms  []string
	}
	var groups []*group
	for _, m := range a.Moves {
		var g *group
		for _, x := range groups {
			if x.live == m.Live && x.why == m.Why {
				g = x
			}
		}
		if g == nil {
			g = &group{live: m.Live, why: m.Why}
			groups = append(groups, g)
		}
		g.vms = append(g.vms, m.VM)
	}
	for _, g := range groups {
		how := "cold"
		if g.live {
			how = "live"
		}
		fmt.Fprintf(w, "     %s: %s (%s)\n", how, strings.Join(g.vms, ", "), g.why)
	}
	if a.UserHoursAvoided > 0 {
		fmt.Fprintf(w, "     %s %s by moving live\n", hours(a.UserHoursAvoided), NameHoursAvoided)
	}
}
