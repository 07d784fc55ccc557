package state

import "time"

// Approval is one go/no-go approval of a wave (or of the conveyor, whose
// Wave is "conveyor"), tied to the plan's content: a changed plan needs
// approving again.
type Approval struct {
	Wave string `json:"wave"`
	// As is the role or name approving, as the plan's gate lists it.
	As       string    `json:"as"`
	Note     string    `json:"note,omitempty"`
	PlanHash string    `json:"planHash"`
	At       time.Time `json:"at"`
	// User and Host are who recorded it, from the operating system.
	User string `json:"user"`
	Host string `json:"host"`
}

// Abort is a wave's back-out criterion that tripped, and what the run did.
type Abort struct {
	Wave string `json:"wave"`
	// Criterion is failedApplications, userHoursLost or overrun; Detail
	// gives the figures.
	Criterion string    `json:"criterion"`
	Detail    string    `json:"detail"`
	Action    string    `json:"action"` // the wave's onFailure
	At        time.Time `json:"at"`
}

// Estimate is what a run expected when it started, kept to compare with
// what it measured (drift).
type Estimate struct {
	// Source says where the step durations came from: "defaults" (the
	// plan's and wavectl's), or "calibrated" from recorded runs.
	Source string `json:"source"`
	// Runs and Steps count the evidence a calibrated estimate rests on.
	Runs  int `json:"runs,omitempty"`
	Steps int `json:"steps,omitempty"`
	// Waves maps a wave (or "conveyor") to its expected duration.
	Waves map[string]Span `json:"waves,omitempty"`
	// Apps maps an application to its expected duration per step kind
	// (all its units' steps of that kind added up).
	Apps map[string]map[string]float64 `json:"applications,omitempty"`
	// AppSpans maps an application to its expected duration from start to
	// end (its VMs side by side), in seconds.
	AppSpans map[string]float64 `json:"applicationSpans,omitempty"`
}

// Span is a P50 and a P90 duration in seconds.
type Span struct {
	P50 float64 `json:"p50Seconds"`
	P90 float64 `json:"p90Seconds"`
}

// same says whether two approvals are the same record.
func (a Approval) same(b Approval) bool {
	return a.Wave == b.Wave && a.As == b.As && a.PlanHash == b.PlanHash && a.At.Equal(b.At)
}

// AddApproval adds a unless the record holds it already.
func (s *State) AddApproval(a Approval) {
	for _, x := range s.Approvals {
		if x.same(a) {
			return
		}
	}
	s.Approvals = append(s.Approvals, a)
}

// AddAbort adds a unless the record holds it already.
func (s *State) AddAbort(a Abort) {
	for _, x := range s.Aborts {
		if x.Wave == a.Wave && x.Criterion == a.Criterion && x.At.Equal(a.At) {
			return
		}
	}
	s.Aborts = append(s.Aborts, a)
}

// AddApproval records a go/no-go approval.
func (s *File) AddApproval(a Approval) error {
	return s.Update(func(st *State) { st.AddApproval(a) })
}

// AddAbort records a back-out criterion that tripped.
func (s *File) AddAbort(a Abort) error {
	return s.Update(func(st *State) { st.AddAbort(a) })
}
