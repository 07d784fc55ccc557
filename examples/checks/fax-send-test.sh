#!/bin/sh
# Example verify hook for the fax replacement: send a test fax through it.
# Replace with the real test. A non-zero exit fails the application.
set -eu
[ -n "${WAVECTL_IP:-}" ] || { echo "no IP for ${WAVECTL_VM:-?}" >&2; exit 1; }
echo "fax-send-test: $1 at $WAVECTL_IP"
