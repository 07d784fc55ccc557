#!/bin/sh
# Wave pre/post hook: announce the change freeze for the wave's window.
# Replace with the call to your change-management system.
set -eu
echo "change freeze $1 for wave ${WAVECTL_WAVE:-?} of plan ${WAVECTL_PLAN:-?}"
