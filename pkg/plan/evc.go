package plan

import (
	"fmt"
	"slices"
)

// EVC modes as vSphere names them (a cluster's currentEVCModeKey, a VM's
// minRequiredEVCModeKey), oldest first, per CPU vendor.
var (
	IntelEVC = []string{"intel-merom", "intel-penryn", "intel-nehalem", "intel-westmere", "intel-sandybridge",
		"intel-ivybridge", "intel-haswell", "intel-broadwell", "intel-skylake", "intel-cascadelake",
		"intel-icelake", "intel-sapphirerapids"}
	AMDEVC = []string{"amd-rev-e", "amd-rev-f", "amd-greyhound-no3dnow", "amd-greyhound", "amd-bulldozer",
		"amd-piledriver", "amd-steamroller", "amd-zen", "amd-zen2", "amd-zen3", "amd-zen4"}
)

// KnownEVC reports whether mode is an EVC mode vSphere knows.
func KnownEVC(mode string) bool {
	return slices.Contains(IntelEVC, mode) || slices.Contains(AMDEVC, mode)
}

// EVCSatisfies reports whether a cluster running offered can run a VM
// that needs needed: the same vendor, and offered no older. "" needs
// nothing; a cluster with no mode ("") satisfies only that.
func EVCSatisfies(offered, needed string) bool {
	if needed == "" {
		return true
	}
	for _, list := range [][]string{IntelEVC, AMDEVC} {
		if n := slices.Index(list, needed); n >= 0 {
			return slices.Index(list, offered) >= n
		}
	}
	return offered == needed
}

// evcModes checks every EVC mode the plan names.
func (v *validator) evcModes() {
	check := func(path, mode string) {
		if mode != "" && !KnownEVC(mode) {
			v.errorf(path, "use a vSphere EVC mode key, e.g. intel-broadwell, intel-cascadelake or amd-zen2",
				"%q is not an EVC mode vSphere knows", mode)
		}
	}
	check("target.evcMode", v.p.Target.EVCMode)
	for i, w := range v.p.Waves {
		if w != nil && w.Target != nil {
			check(fmt.Sprintf("waves[%d].target.evcMode", i), w.Target.EVCMode)
		}
	}
	if c := v.p.Conveyor; c != nil && c.Target != nil {
		check("conveyor.target.evcMode", c.Target.EVCMode)
	}
	for i, a := range v.p.Applications {
		if a == nil {
			continue
		}
		if a.Target != nil {
			check(fmt.Sprintf("applications[%d].target.evcMode", i), a.Target.EVCMode)
		}
		for j, vm := range a.VMs {
			if vm != nil {
				check(fmt.Sprintf("applications[%d].vms[%d].evcMode", i, j), vm.EVCMode)
			}
		}
		if a.Strategy != Remediate && a.Move != "" && a.Move != MoveAuto && v.p.pos != nil {
			if _, set := v.p.pos[fmt.Sprintf("applications[%d].move", i)]; set {
				v.warnf(fmt.Sprintf("applications[%d].move", i), "remove it: only remediate moves VMs, live or cold",
					"move: %s has no effect on a %s application", a.Move, a.Strategy)
			}
		}
		if r := a.Remediate; r != nil && r.HardwareUpgrade == UpgradeNextReboot && r.HardwareVersion == "" {
			v.warnf(fmt.Sprintf("applications[%d].remediate.hardwareUpgrade", i), "set remediate.hardwareVersion, or remove hardwareUpgrade",
				"hardwareUpgrade: nextReboot with no hardwareVersion to upgrade to")
		}
	}
}
