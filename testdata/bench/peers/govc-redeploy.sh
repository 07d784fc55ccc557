#!/usr/bin/env bash
# Redeploy a wave of VMs with govc, the way migration engineers script it:
# one line per VM in a list, a function that does one VM, and `xargs -P 8`
# to run eight at a time. It does what wavectl's redeploy strategy does for
# each VM:
#
#   1. clone the new VM from the template into the target folder, cluster
#      (root resource pool) and datastore, its NIC on the target portgroup,
#      sized as the old VM (govc resizes with a reconfigure after the clone);
#   2. mark it (the extraConfig keys wavectl sets: wavectl.plan,
#      wavectl.application, wavectl.step, wavectl.source);
#   3. power it on, and wait for VMware Tools to report an IP (`vm.ip -wait`);
#   4. power the old VM off, and mark it superseded (wavectl.state).
#
# Usage: govc-redeploy.sh VMLIST
#
# VMLIST has one VM per line: NAME APPLICATION DATASTORE PORTGROUP CPUS
# MEMORY_MB (blank lines and lines starting with # are skipped). The rest
# comes from the environment: GOVC_URL, GOVC_USERNAME, GOVC_PASSWORD and
# GOVC_INSECURE (as `wavectl sim` prints them), and
#
#   WAVE_PLAN     plan name the markers carry            (required)
#   SRC_DC        datacenter of the old VMs               (DC-OLD)
#   SRC_FOLDER    their VM folder                         (estate)
#   DC            target datacenter                       (DC1)
#   CLUSTER       target cluster                          (C1)
#   FOLDER        target VM folder                        (migrated)
#   TEMPLATE      template, in the target's templates/    (tpl-rhel9)
#   PARALLEL      VMs in flight                           (8)
#   IP_WAIT       how long vm.ip waits for an IP          (5m)
#   GOVC          the govc binary                         (govc)
#
# Each VM prints one line when done; a failed VM prints govc's error and
# makes the script exit non-zero (the others carry on, as xargs does).
set -euo pipefail

: "${SRC_DC:=DC-OLD}" "${SRC_FOLDER:=estate}" "${DC:=DC1}" "${CLUSTER:=C1}"
: "${FOLDER:=migrated}" "${TEMPLATE:=tpl-rhel9}" "${PARALLEL:=8}" "${IP_WAIT:=5m}"
: "${GOVC:=govc}"
export SRC_DC SRC_FOLDER DC CLUSTER FOLDER TEMPLATE IP_WAIT GOVC

redeploy_one() {
	local vm=$1 app=$2 ds=$3 pg=$4 cpus=$5 mem=$6
	local new="/$DC/vm/$FOLDER/$vm" old="/$SRC_DC/vm/$SRC_FOLDER/$vm"
	local mark=(-e "wavectl.plan=$WAVE_PLAN" -e "wavectl.application=$app")

	# A failed VM says which, and what govc said.
	trap 'echo "$vm: FAILED at line $LINENO" >&2' ERR

	"$GOVC" vm.clone -dc "$DC" -vm "/$DC/vm/templates/$TEMPLATE" -on=false \
		-pool "/$DC/host/$CLUSTER/Resources" -ds "$ds" -folder "/$DC/vm/$FOLDER" \
		-net "$pg" -c "$cpus" -m "$mem" "$vm" >/dev/null
	"$GOVC" vm.change -vm "$new" "${mark[@]}" -e wavectl.step=clone -e "wavectl.source=$vm"
	"$GOVC" vm.power -on "$new" >/dev/null
	"$GOVC" vm.ip -wait "$IP_WAIT" "$new" >/dev/null

	"$GOVC" vm.power -off "$old" >/dev/null
	"$GOVC" vm.change -vm "$old" "${mark[@]}" -e wavectl.step=retire -e wavectl.state=superseded
	echo "$vm: redeployed to $new ($cpus vCPU, $mem MB, $ds, $pg); old VM off and superseded"
}

if [ "${1:-}" = --one ]; then
	shift
	redeploy_one "$@"
	exit
fi

if [ $# -ne 1 ] || [ -z "${WAVE_PLAN:-}" ]; then
	echo "usage: WAVE_PLAN=NAME $0 VMLIST" >&2
	exit 2
fi
export WAVE_PLAN

# Log in once first: govc keeps its session in a file under ~/.govmomi, and
# eight first calls at once would race to write it while others read it
# half-written (govc then fails with a bare "EOF"). Engineers who script
# govc meet this too, and do the same.
"$GOVC" about >/dev/null

# Eight VMs at a time, each in its own bash running this script's function.
grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$1" | xargs -P "$PARALLEL" -L 1 "$0" --one
