#!/usr/bin/env bash
# aggregator_dashboard.sh: the dashboard in a real headless browser (Debian's
# chromium, installed by scripts/install-deps --tests). Lines with hashtags,
# one of them <img src=x onerror=alert(1)>, go through the dev broker into a
# streaming aggregator; chromium then renders / and the test reads the DOM
# after the page's scripts ran: the top trending hashtag and URL are the
# ones the lines make so, the status chart has bars of the classes written,
# the hostile hashtag is text (no <img> element anywhere), and the page
# reports no error. Screenshots (laptop and phone sizes) are kept in
# test-artifacts/ of the build directory.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"
# shellcheck source=aggregator_lib.sh
. "$(dirname "$0")/aggregator_lib.sh"

plan 9
agg_require
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || bail_out "chromium is not installed (scripts/install-deps --tests)"
ARTIFACTS=${top_builddir:-.}/test-artifacts
mkdir -p "$ARTIFACTS"

TOPIC=$(agent_topic agg-dash)
DB=$(agg_db dash)
# Hashtags anywhere after a '#', so that a hostile one can be counted too.
agg_config "$TAP_TMP/agg.yml" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$DB" \
	'dimensions:' \
	'  - {name: url, from: path}' \
	'  - {name: status, from: status}' \
	"  - {name: hashtag, from: target, match: '#(.+)\$', lowercase: true}"
agg_start dash "$TAP_TMP/agg.yml"
PORT=$(agg_wait_port dash) || bail_out "no port: $(tail -n 5 "$TAP_TMP/dash.err")"

# N lines now: TARGET STATUS N.
lines() {
	local when i
	when=$(date -u +%d/%b/%Y:%H:%M:%S)
	for ((i = 0; i < $3; i++)); do
		printf '10.0.0.%d - - [%s +0000] "GET %s HTTP/1.1" %s 512 "-" "test"\n' \
			$((i % 250 + 1)) "$when" "$1" "$2"
	done
}
{
	lines '/shop/cart#kafkaRocks' 200 40
	lines '/blog#MariaDB' 200 12
	lines '/t#%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E' 404 9
	lines '/api/pay' 503 6
} >"$TAP_TMP/lines"
agg_produce "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$TAP_TMP/lines" ||
	bail_out "cannot produce the lines"
counted() { [ "$(agg_total "$DB" status)" = 67 ]; }
check "the aggregator counts the 67 lines" wait_until 60 counted

# The DOM after the page's scripts ran (a virtual 8 s: one refresh).
render() {   # OUT [ARG...]
	local out=$1
	shift
	timeout 120 "$CHROMIUM" --headless=new --no-sandbox --disable-gpu \
		--no-first-run --disable-extensions --virtual-time-budget=8000 \
		"$@" "http://127.0.0.1:$PORT/" >"$out" 2>"$TAP_TMP/chromium.err"
}
render "$TAP_TMP/dom.html" --dump-dom
dom=$TAP_TMP/dom.html
check "the page loaded its data (data-loaded) and shows no error" eval \
	'grep -q "data-loaded=\"yes\"" "$dom" && grep -q "<span id=\"error\"></span>" "$dom"'
first() {   # TABLE-ID: the text of the first value cell of that table
	perl -0ne 'print $1 if /<table id="'"$1"'">.*?<td class="v">(.*?)<(?:\/td|div)/s' "$dom"
}
got=$(first trending)
check "the top trending hashtag is #kafkarocks ($got)" test "$got" = "#kafkarocks"
got=$(first urls)
check "the top URL is /shop/cart ($got)" test "$got" = "/shop/cart"
check "the status chart has bars for 2xx, 4xx and 5xx" eval \
	'for c in 2xx 4xx 5xx; do grep -q "<rect[^>]*data-class=\"$c\"" "$dom" || exit 1; done'
check "the hostile hashtag is shown as text" \
	grep -qF '#&lt;img src=x onerror=alert(1)&gt;' "$dom"
check "no <img> element made it into the page" eval '! grep -qi "<img" "$dom"'

render /dev/null --screenshot="$ARTIFACTS/dashboard.png" --window-size=1280,1000
check "a laptop-sized screenshot is kept: test-artifacts/dashboard.png" \
	test -s "$ARTIFACTS/dashboard.png"
render /dev/null --screenshot="$ARTIFACTS/dashboard-phone.png" --window-size=390,1600
check "a phone-sized screenshot is kept: test-artifacts/dashboard-phone.png" \
	test -s "$ARTIFACTS/dashboard-phone.png"
agg_stop "$AGG_PID" >/dev/null
