#!/bin/sh
# Example verify hook: the application answers on its IP. Replace with a real
# HTTP probe (curl -fsS "https://$WAVECTL_IP/health"). A non-zero exit fails
# the application.
set -eu
[ -n "${WAVECTL_IP:-}" ] || { echo "no IP for ${WAVECTL_VM:-?}" >&2; exit 1; }
echo "http-200: $1 at $WAVECTL_IP"
