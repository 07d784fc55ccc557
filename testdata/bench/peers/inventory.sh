#!/bin/sh
# Ansible inventory for redeploy.yml: one host per VM of the wave, read from
# the same VM list the govc script takes ($WAVECTL_BENCH_VMS, default
# vms.txt in the working folder): NAME APPLICATION DATASTORE PORTGROUP CPUS
# MEMORY_MB per line. Hosts are VMs, not machines Ansible logs in to: the
# play runs every task on the control node (connection: local).
#
#   WAVECTL_BENCH_VMS=vms.txt ansible-inventory -i inventory.sh --list
set -eu
vms=${WAVECTL_BENCH_VMS:-vms.txt}
case ${1:-} in
--host) echo '{}'; exit 0 ;;
--list) ;;
*) echo "usage: $0 --list | --host HOST" >&2; exit 2 ;;
esac
awk '
	/^[[:space:]]*(#|$)/ { next }
	{
		hosts = hosts sep "\"" $1 "\""
		vars = vars sep sprintf("\"%s\": {\"application\": \"%s\", \"datastore\": \"%s\", \"portgroup\": \"%s\", \"cpus\": %d, \"memory_mb\": %d}", $1, $2, $3, $4, $5, $6)
		sep = ", "
	}
	END {
		printf "{\"wave\": {\"hosts\": [%s], \"vars\": {\"ansible_connection\": \"local\"}},\n", hosts
		printf " \"_meta\": {\"hostvars\": {%s}}}\n", vars
	}
' "$vms"
