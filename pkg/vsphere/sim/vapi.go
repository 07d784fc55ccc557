package sim

// The vSphere Automation (REST) API, for tags: govmomi's vapi simulator
// registers its endpoints with every simulator server started with
// RegisterEndpoints (as Start does), so that `wavectl discover` and govc
// read and write tags against `wavectl sim` as against a real vCenter.
import _ "github.com/vmware/govmomi/vapi/simulator"
