package engine

import (
	"fmt"
	"strings"

	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
)

// DroppedError is a changed plan that no longer has applications the
// record shows part-way: applying it would leave their VMs as they are
// (powered off, with snapshots) and forget them.
type DroppedError struct {
	Apps []string // name (n of m steps done)
}

func (e *DroppedError) Error() string {
	return fmt.Sprintf("the plan no longer has %s, which the record shows part-way: their VMs may be powered off or carry snapshots, "+
		"and this plan would leave them so; nothing was changed. Roll them back first, with the plan as it was when they ran "+
		"(wavectl rollback --app NAME --plan OLD-PLAN), or put them back in the plan",
		strings.Join(e.Apps, ", "))
}

// CheckDropped returns a *DroppedError when the record holds applications
// part-way (some step done, running or failed, and not rolled back) that
// the schedule no longer has.
func CheckDropped(st *state.State, s *schedule.Schedule) error {
	scheduled := map[string]bool{}
	for _, w := range s.Waves {
		for _, a := range w.Apps {
			scheduled[a.Name] = true
		}
	}
	if s.Conveyor != nil {
		for _, a := range s.Conveyor.Apps {
			scheduled[a.Name] = true
		}
	}
	var dropped []string
	for _, a := range st.Apps {
		if scheduled[a.Name] || a.Status == state.Done || a.Status == state.RolledBack {
			continue
		}
		done, all, touched := 0, 0, false
		for _, u := range a.Units {
			for _, r := range u.Steps {
				all++
				switch r.Status {
				case state.Done:
					done++
					touched = true
				case state.Running, state.Failed:
					touched = true
				}
			}
		}
		if touched {
			dropped = append(dropped, fmt.Sprintf("%s (%d of %d steps done)", a.Name, done, all))
		}
	}
	if len(dropped) > 0 {
		return &DroppedError{Apps: dropped}
	}
	return nil
}
