package postgres

import "github.com/wavectl/wavectl/pkg/state"

// AddApproval records a go/no-go approval: a record entry that
// MergeRecord unites with every other writer's approvals.
func (s *Store) AddApproval(a state.Approval) error {
	return s.Update(func(st *state.State) { st.AddApproval(a) })
}

// AddAbort records a back-out criterion that tripped.
func (s *Store) AddAbort(a state.Abort) error {
	return s.Update(func(st *state.State) { st.AddAbort(a) })
}
