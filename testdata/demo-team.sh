#!/usr/bin/env bash
# make demo-team: two engineers apply two waves of one plan at once against
# one record in PostgreSQL, and a third reads its status. It starts a
# throwaway PostgreSQL server (Debian's postgresql package) and a simulated
# vCenter, and stops both at the end.
set -euo pipefail
wavectl=${1:-bin/wavectl}
plan=examples/team.yaml
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bindir" ]; then
  echo "demo-team needs PostgreSQL: apt-get install postgresql" >&2
  exit 1
fi
tmp=$(mktemp -d /tmp/wavectl-demo-team.XXXXXX)
chmod 755 "$tmp"
as=()
if [ "$(id -u)" = 0 ]; then chown postgres "$tmp"; as=(runuser -u postgres --); fi
port=$((20000 + RANDOM % 20000))
export PGPASSWORD=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s' "$PGPASSWORD" > "$tmp/pw"; chmod 644 "$tmp/pw"
sim=
cleanup() {
  [ -n "$sim" ] && kill -INT "$sim" 2>/dev/null && wait "$sim" 2>/dev/null || true
  "${as[@]}" "$bindir/pg_ctl" -D "$tmp/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
"${as[@]}" "$bindir/initdb" -D "$tmp/data" -U wavectl --pwfile "$tmp/pw" --auth-host=scram-sha-256 --auth-local=trust >/dev/null
rm -f "$tmp/pw"
"${as[@]}" "$bindir/pg_ctl" -D "$tmp/data" -o "-p $port -k $tmp -c listen_addresses=127.0.0.1" -l "$tmp/pg.log" -w start >/dev/null
export WAVECTL_STATE="postgres://wavectl@127.0.0.1:$port/postgres?sslmode=disable"
echo "== PostgreSQL on 127.0.0.1:$port; the password is in PGPASSWORD, never in a file of wavectl's"
echo "\$ wavectl state migrate --state $WAVECTL_STATE"
"$wavectl" state migrate

echo "== a simulated vCenter for the team (tasks slowed so the runs overlap)"
"$wavectl" sim --plan "$plan" --env-file "$tmp/env.sh" --delay CloneVM_Task=2s --delay RelocateVM_Task=2s >/dev/null 2>"$tmp/sim.log" &
sim=$!
for _ in $(seq 100); do [ -s "$tmp/env.sh" ] && break; sleep 0.1; done
# shellcheck disable=SC1091
. "$tmp/env.sh"

echo "== shell 1: wavectl apply --wave wave-housing    shell 2: wavectl apply --wave wave-planning (at once)"
"$wavectl" apply --yes --ignore-windows --wave wave-housing "$plan" 2>"$tmp/one.err" | sed 's/^/[shell 1] /' &
one=$!
"$wavectl" apply --yes --ignore-windows --wave wave-planning "$plan" 2>/dev/null | sed 's/^/[shell 2] /' &
two=$!
# Wait until shell 1's run has started (its lease is taken before that).
for _ in $(seq 300); do
  "$wavectl" status -o json 2>/dev/null | grep -Eq '"status": *"running"' && break
  sleep 0.1
done
echo "== shell 3 tries wave-housing again while shell 1 runs it:"
code=0
"$wavectl" apply --yes --ignore-windows --wave wave-housing "$plan" >"$tmp/three.out" 2>&1 || code=$?
sed 's/^/[shell 3] /' "$tmp/three.out" | grep -v '"level":"warn"' | head -3
echo "[shell 3] exit code $code (8: another run holds the lock)"
wait "$one" "$two"; grep -v "\"level\":\"info\"" "$tmp/one.err" | head -5
echo "== shell 3: wavectl status (from the database)"
"$wavectl" status
