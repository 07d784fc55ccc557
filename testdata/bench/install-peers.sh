#!/bin/sh
# Installs what the peer benchmark (BenchmarkPeers in cmd/wavectl) compares
# wavectl with, when the machine lacks it:
#   - govc v0.46.0, with `go install`, into bin/tools (as `make tools` does);
#   - Debian's `ansible` (with its community.vmware collection), with
#     apt-get: needs root and a Debian apt;
#   - pyvmomi from Debian 13 (trixie), downloaded from the mirror already in
#     the apt sources and unpacked with `dpkg-deb -x` into bin/tools/pyvmomi,
#     to go on PYTHONPATH. Debian 12's own python3-pyvmomi (6.7) cannot read
#     the simulator's service content; the trixie one is never installed over
#     the system's.
# A peer that cannot be installed is reported in one line and skipped; the
# script always exits 0 unless it is misused, so that `make bench` goes on
# and the benchmark says which peers it skipped.
#
# Usage: testdata/bench/install-peers.sh [REPO_ROOT]
set -u

root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
tools=$root/bin/tools
GO=${GO:-go}
GOVC_VERSION=${GOVC_VERSION:-v0.46.0}
mkdir -p "$tools"

say() { printf 'install-peers: %s\n' "$*"; }

# --- govc --------------------------------------------------------------
if [ -x "$tools/govc" ]; then
	say "govc: $tools/govc is there"
elif GOBIN=$tools $GO install "github.com/vmware/govmomi/govc@$GOVC_VERSION"; then
	say "govc: installed $GOVC_VERSION into $tools"
else
	say "govc: could not install github.com/vmware/govmomi/govc@$GOVC_VERSION; the govc peer will be skipped"
fi

# --- ansible -------------------------------------------------------------
as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo -n "$@"
	else
		return 126
	fi
}

if command -v ansible-playbook >/dev/null 2>&1; then
	say "ansible: $(command -v ansible-playbook) is there"
elif ! command -v apt-get >/dev/null 2>&1; then
	say "ansible: not installed and no apt-get here (not Debian); the Ansible peer will be skipped"
else
	updated=
	if as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null; then
		updated=1
	fi
	if [ -n "$updated" ] && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ansible >/dev/null 2>&1; then
		say "ansible: installed Debian's ansible ($(ansible-playbook --version 2>/dev/null | head -1))"
	else
		say "ansible: could not apt-get install ansible (needs root, or passwordless sudo, and a reachable Debian mirror); the Ansible peer will be skipped"
	fi
fi

# --- pyvmomi from trixie ---------------------------------------------------
pyvmomi=$tools/pyvmomi
if [ -d "$pyvmomi/usr/lib/python3/dist-packages/pyVmomi" ]; then
	say "pyvmomi: $pyvmomi is there"
elif ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
	say "pyvmomi: no apt-get/dpkg-deb here; the Ansible peer will be skipped"
else
	# The Debian mirror the machine already uses (not the security one).
	mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
		sed -n -e 's/^URIs:[[:space:]]*//p' -e 's/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([^[:space:]]*\).*/\2/p' |
		tr ' ' '\n' | grep -v -e security -e '^$' | grep -i debian | head -1)
	if [ -z "$mirror" ]; then
		say "pyvmomi: no Debian mirror found in /etc/apt/sources.list*; the Ansible peer will be skipped"
	else
		# A private apt state: the trixie index goes into a temporary
		# folder, the machine's own sources, lists and cache are untouched.
		work=$(mktemp -d)
		mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/etc/preferences.d"
		printf 'deb %s trixie main\n' "$mirror" >"$work/etc/sources.list"
		apt="apt-get -q -o Dir::Etc::SourceList=$work/etc/sources.list -o Dir::Etc::SourceParts=$work/etc/none
			-o Dir::Etc::Preferences=$work/etc/none -o Dir::Etc::PreferencesParts=$work/etc/preferences.d
			-o Dir::State::Lists=$work/lists -o Dir::Cache=$work/cache -o Dir::State::status=/var/lib/dpkg/status
			-o Debug::NoLocking=1 -o APT::Sandbox::User=root"
		if $apt update >"$work/update.log" 2>&1 && (cd "$work" && $apt download python3-pyvmomi >"$work/download.log" 2>&1); then
			deb=$(ls "$work"/python3-pyvmomi_*.deb | head -1)
			mkdir -p "$pyvmomi"
			if dpkg-deb -x "$deb" "$pyvmomi"; then
				say "pyvmomi: unpacked $(basename "$deb") from $mirror trixie into $pyvmomi (PYTHONPATH=$pyvmomi/usr/lib/python3/dist-packages)"
				# Its Python dependencies (requests, six) come from the
				# machine's own release.
				dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -e 's/[(|].*//' -e 's/[[:space:]]//g' |
					grep '^python3-' >"$pyvmomi/DEPENDS" || true
			else
				rm -rf "$pyvmomi"
				say "pyvmomi: could not unpack $deb; the Ansible peer will be skipped"
			fi
		else
			say "pyvmomi: could not download python3-pyvmomi from $mirror trixie ($(tail -1 "$work/download.log" 2>/dev/null || tail -1 "$work/update.log")); the Ansible peer will be skipped"
		fi
		rm -rf "$work"
	fi
fi
# pyvmomi's dependencies, which Debian's ansible does not pull in (requests,
# six), from the machine's own release.
if [ -s "$pyvmomi/DEPENDS" ]; then
	missing=
	for p in $(cat "$pyvmomi/DEPENDS"); do
		dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
	done
	if [ -z "$missing" ]; then
		say "pyvmomi: its dependencies ($(echo $(cat "$pyvmomi/DEPENDS"))) are installed"
	elif as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1; then
		say "pyvmomi: installed its dependencies:$missing"
	else
		say "pyvmomi: could not apt-get install its dependencies ($missing); the Ansible peer will be skipped"
	fi
fi
exit 0
