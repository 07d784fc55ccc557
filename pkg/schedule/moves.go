package schedule

import (
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/strategy"
)

// Move is how one remediated VM moves.
type Move struct {
	VM   string `json:"vm"`
	Live bool   `json:"live"`
	Why  string `json:"why"`
}

// moves fills in a remediate application's moves and, when some are
// live, the user-hours they avoid: its projected outage with every VM
// moved cold, less its projection as planned.
func moves(p *plan.Plan, a *plan.Application, ca *App) {
	if a.Strategy != plan.Remediate {
		return
	}
	anyLive := false
	for _, vm := range a.VMs {
		if vm == nil {
			continue
		}
		m := strategy.MoveOf(a, vm)
		ca.Moves = append(ca.Moves, Move{VM: vm.Name, Live: m.Live, Why: m.Why})
		anyLive = anyLive || m.Live
	}
	if !anyLive {
		return
	}
	cold := *a
	cold.Move = plan.MoveCold
	outage := map[string]time.Duration{}
	for _, st := range strategy.Steps(&cold) {
		if st.Outage {
			outage[st.Unit] += strategy.Estimate(p, a, st.Kind)
		}
	}
	var worst time.Duration
	for _, d := range outage {
		worst = max(worst, d)
	}
	ca.UserHoursAvoided = round2(float64(a.Users)*worst.Hours() - ca.ProjectedUserHours)
}
