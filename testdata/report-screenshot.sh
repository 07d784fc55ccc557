#!/bin/sh
# Screenshots of an HTML report in headless Chromium (Debian's chromium
# package), at desktop and phone widths, to look at before a change to the
# report lands. Not part of `make test`: it needs chromium installed.
#
#   testdata/report-screenshot.sh [REPORT.html [OUT_PREFIX]]
#
# Without arguments it shoots the golden report of the demo fixture
# (pkg/report/testdata/report/demo.html) into report-desktop.png and
# report-phone.png. Chromium is kept off the network: the page must not
# need it.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
page=${1:-$here/pkg/report/testdata/report/demo.html}
out=${2:-report}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
	echo "report-screenshot: no chromium found; on Debian: apt-get install chromium" >&2
	exit 2
fi
case $page in /*) ;; *) page=$(pwd)/$page ;; esac
shoot() { # width height file
	profile=$(mktemp -d)
	"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--hide-scrollbars --user-data-dir="$profile" \
		--screenshot="$3" --window-size="$1,$2" "file://$page" >/dev/null 2>&1
	rm -rf "$profile"
	echo "$3 (${1}x$2)"
}
shoot 1280 2000 "$out-desktop.png"
shoot 390 1600 "$out-phone.png"
