package cli

import (
	"path/filepath"
	"testing"

	"github.com/wavectl/wavectl/pkg/plan"
)

// The governance example calibrates from the pilot record shipped beside
// it: from a fresh clone, its plan rests on measurements and flags the
// wave that will overrun its window.
func TestTheGovernanceExampleIsCalibratedFromItsPilotRecord(t *testing.T) {
	p, _, err := plan.LoadFile(filepath.Join("..", "..", "examples", "governance.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s, probs, err := calibrated(p, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if s.Calibration == nil || s.Calibration.Steps == 0 {
		t.Fatalf("calibration %+v: want the pilot's measured steps", s.Calibration)
	}
	var overrun bool
	for _, w := range s.Waves {
		if w.Name == "benefits-2" && w.Overrun > 0 {
			overrun = true
		}
	}
	if !overrun || len(probs) == 0 {
		t.Errorf("benefits-2 is not flagged as overrunning (warnings %v)", probs)
	}
	if _, _, err := calibrated(p, []string{"no-such.state.json"}, false); codeOf(err) != ExitUsage {
		t.Errorf("a calibration record that does not exist: %v (exit %d), want exit 2", err, codeOf(err))
	}
}
