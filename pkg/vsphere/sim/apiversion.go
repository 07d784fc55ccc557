package sim

import "github.com/vmware/govmomi/simulator/vpx"

// APIVersion is the vSphere API version the simulator advertises (in its
// about info and /sdk/vimServiceVersions.xml): vCenter 8.0 Update 3's.
//
// govmomi's simulator says 6.5 by default, yet fills properties that came
// with later versions (guest.customizationInfo, 7.0.2, on every clone
// made with a customisation spec). Clients that negotiate the version the
// server advertises, as pyvmomi (and so Ansible's community.vmware) does,
// then meet a property their 6.5 schema lacks and fail to read the VM.
// The vCenters wavectl migrates onto speak 7.0 or 8.0; so does this one.
const APIVersion = "8.0.3.0"

// The simulator copies vpx.ServiceContent into every model VPX() makes,
// so setting it once here reaches every simulator this package builds.
func init() {
	about := &vpx.ServiceContent.About
	about.ApiVersion = APIVersion
	about.Version = "8.0.3"
	about.FullName = "VMware vCenter Server 8.0.3 (simulated)"
}
