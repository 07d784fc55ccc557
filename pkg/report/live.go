package report

import (
	"fmt"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/state"
)

// liveMoves counts the VMs the record shows moved live: their switch-over
// step is done.
func liveMoves(st *state.State) int {
	n := 0
	for _, a := range st.Apps {
		if a == nil {
			continue
		}
		for _, u := range a.Units {
			if s := u.Step(plan.StepSwitchOver, 1); s != nil && s.Status == state.Done {
				n++
			}
		}
	}
	return n
}

// liveSummary is the headline's part on live moves: how many moved live,
// and the user-hours that avoided against moving the same VMs cold, with
// the figures as they would have been without live moves (measured: the
// measured user-hours plus the projected saving, since a cold move that
// did not happen cannot be measured).
func liveSummary(t *Figures) string {
	p := t.Projected
	if p == nil || p.UserHoursAvoided <= 0 {
		if t.LiveMoves > 0 {
			return fmt.Sprintf("; %s moved live", plural(t.LiveMoves, "VM"))
		}
		return ""
	}
	return fmt.Sprintf("; %d of %s planned live moved live, %s projected user-hours avoided against moving them cold (without live moves: projected %s, measured about %s)",
		t.LiveMoves, plural(p.LiveMoves, "VM"), userHours(p.UserHoursAvoided),
		userHours(p.UserHoursLost+p.UserHoursAvoided), userHours(t.UserHoursLost+p.UserHoursAvoided))
}
