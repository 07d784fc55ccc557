#!/bin/sh
# Example hook (lb-enable): wavectl runs it from the plan's folder with WAVECTL_PLAN,
# WAVECTL_APP, WAVECTL_WAVE, WAVECTL_VM and WAVECTL_IP set. Replace the body
# with the real call (load balancer, chat channel, change ticket).
set -eu
echo "lb-enable: $*"
