#!/bin/sh
# Smoke check run by every application's verify step in the reference plan.
# wavectl sets WAVECTL_APP, WAVECTL_VM, WAVECTL_IP and more; replace the body
# with the estate's own checks (an HTTP probe, a database login, ...).
# A non-zero exit fails the application.
set -eu
[ -n "${WAVECTL_IP:-}" ] || { echo "no IP for $WAVECTL_VM" >&2; exit 1; }
echo "smoke check: $WAVECTL_APP/$WAVECTL_VM answers at $WAVECTL_IP"
