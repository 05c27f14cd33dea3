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
# Then, with rows of durations and bytes written into counts and latency
# by the test, the page is driven through the DevTools protocol (cdp.pl):
# the slowest (p95) and bandwidth panels, a hostile URL shown as text
# there and in its series, the range picker changing the tables and the
# URL, a reload keeping the view, a real click on a value opening its
# series, the dimension switcher and a custom range.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"
# shellcheck source=aggregator_lib.sh
. "$(dirname "$0")/aggregator_lib.sh"

plan 28
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
	perl -0ne 'print $1 if /<table id="'"$1"'">.*?<td class="v"[^>]*>(.*?)<(?:\/td|div)/s' "$dom"
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

# --- driven through the DevTools protocol -----------------------------------

CDP="perl $(dirname "$0")/cdp.pl"
now=$(date +%s)
HOSTILE='<img src=x onerror=alert(2)>'
# /slow/report: 5 timed hits in bucket 40 (800 ms, 1 s], the slowest at
# 900 ms, and 5 MB; the hostile URL: 2 hits in bucket 20 (8, 10 ms], 100
# bytes; /old/report: 1000 hits three hours ago, outside the last hour.
measures() {   # SIZE START VALUE HITS BYTES COUNT SUM MAX BUCKET
	echo "INSERT INTO counts (window_seconds, window_start, dimension, value, hits, bytes,
		duration_count, duration_us_sum, duration_us_max)
	      VALUES ($1, FROM_UNIXTIME($2 DIV $1 * $1), 'url', '$3', $4, $5, $6, $7, $8);"
	[ "$6" = 0 ] || echo "INSERT INTO latency (window_seconds, window_start, dimension, value, bucket, hits)
	      VALUES ($1, FROM_UNIXTIME($2 DIV $1 * $1), 'url', '$3', $9, $6);"
}
sql="SET time_zone = '+00:00';"
for size in 5 60 3600; do
	sql+=$(measures $size $((now - 20)) /slow/report 5 5000000 5 4400000 900000 40)
	sql+=$(measures $size $((now - 20)) "$HOSTILE" 2 100 2 18000 9000 20)
done
sql+=$(measures 60 $((now - 3 * 3600)) /old/report 1000 0 0 0 0 0)
agg_sql "$DB" "$sql" || bail_out "cannot insert the rows of measures"

mkdir -p "$TAP_TMP/chrome"
"$CHROMIUM" --headless=new --no-sandbox --disable-gpu --no-first-run \
	--disable-extensions --window-size=1280,1000 --remote-debugging-port=0 \
	--user-data-dir="$TAP_TMP/chrome" "http://127.0.0.1:$PORT/" \
	>/dev/null 2>"$TAP_TMP/chromium-cdp.err" &
CHROME_PID=$!
trap 'kill "$CHROME_PID" 2>/dev/null' EXIT
devtools_port() { [ -s "$TAP_TMP/chrome/DevToolsActivePort" ]; }
wait_until 30 devtools_port || bail_out "chromium opened no debugging port"
DT=$(head -n 1 "$TAP_TMP/chrome/DevToolsActivePort")

js() { $CDP "$DT" eval "$1"; }
until_js() { $CDP "$DT" wait 20 "$1" >/dev/null; }
# The values of a table's rows, one line, separated by " | ".
VALUES='(id) => [...document.querySelectorAll("#" + id + " tbody td.v")].map(e => e.textContent).join(" | ")'
values() { js "($VALUES)('$1')"; }
cell() {   # TABLE ROW COLUMN
	js "document.querySelectorAll('#$1 tbody tr')[$2].children[$3].textContent"
}
loaded='document.body.dataset.loaded === "yes"'

check "the page loads through the debugging port" until_js "$loaded"
until_js "($VALUES)('slowest').startsWith('/slow/report')"
got=$(values slowest)
check "slowest (p95): /slow/report first, then the hostile URL: $got" \
	test "$got" = "/slow/report | $HOSTILE"
got="$(cell slowest 0 1) / $(cell slowest 1 1) / $(js "document.querySelector('#slowest tbody td.n').title")"
check "the p95 of each, with its bounds on hover: $got" \
	test "$got" = "900 ms / 9 ms / between 800 ms and 900 ms"
got="$(values bandwidth) / $(cell bandwidth 0 1) / $(cell bandwidth 1 1) / $(cell bandwidth 5 1)"
check "bandwidth: top by bytes, the lines' 512 bytes each included: $got" test "$got" = \
	"/slow/report | /shop/cart | /blog | /t | /api/pay | $HOSTILE / 5 MB / 20.5 kB / 100 B"
got=$(js 'document.querySelectorAll("img").length + " " + document.getElementById("error").textContent.length')
check "the hostile URL is text: no <img> element, no error ($got)" test "$got" = "0 0"
got=$(values urls)
check "the last hour (the default) leaves out /old/report: $got" \
	eval '[[ "$got" != *"/old/report"* && "$got" == *"/shop/cart"* ]]'

js '{ const r = document.getElementById("range"); r.value = "6h"; r.dispatchEvent(new Event("change")); } 1' >/dev/null
check "the picker's last 6 hours bring /old/report to the top" \
	until_js "($VALUES)('urls').startsWith('/old/report')"
got=$(js 'location.hash')
check "the URL keeps the range and the dimension: $got" test "$got" = "#range=6h&dim=url"

js 'window.before_reload = 1' >/dev/null
$CDP "$DT" reload
check "a reload keeps the view: 6 hours, /old/report first" \
	until_js "!window.before_reload && $loaded && document.getElementById('range').value === '6h' &&
		  ($VALUES)('urls').startsWith('/old/report')"

$CDP "$DT" click 'document.querySelector("#slowest tbody td.v")'
check "a click on a value opens its series" \
	until_js "!document.getElementById('detail').hidden &&
		  document.getElementById('detail-value').textContent === '/slow/report'"
got=$(js 'location.hash')
check "the URL names the open value: $got" test "$got" = "#range=6h&dim=url&value=%2Fslow%2Freport"
got=$(js '["detail-hits", "detail-p95", "detail-bytes"].map(id => document.querySelectorAll("#" + id + " path").length +
	(document.getElementById(id).closest("figure").hidden ? "h" : "")).join(" ")')
check "its series: hits, p95 and bytes, each a line ($got)" test "$got" = "1 1 1"

js 'window.before_reload = 1' >/dev/null
$CDP "$DT" reload
check "a reload keeps the open series" \
	until_js "!window.before_reload && $loaded && !document.getElementById('detail').hidden &&
		  document.getElementById('detail-value').textContent === '/slow/report'"

$CDP "$DT" click 'document.querySelectorAll("#slowest tbody td.v")[1]'
until_js "document.getElementById('detail-value').textContent !== '/slow/report'"
got=$(js 'document.getElementById("detail-value").textContent + " " + document.querySelectorAll("img").length')
check "the hostile value's series is titled with its text, no <img>: $got" test "$got" = "$HOSTILE 0"

js '{ const d = document.getElementById("dim"); d.value = "status"; d.dispatchEvent(new Event("change")); } 1' >/dev/null
check "the dimension switcher shows the top status codes" \
	until_js "($VALUES)('urls') === '200 | 404 | 503'"
got=$(js 'location.hash + " " + document.getElementById("detail").hidden')
check "the switch is in the URL and closes the series: $got" test "$got" = "#range=6h&dim=status true"

# A custom range around /old/report only: its minute, in UTC.
old=$(( (now - 3 * 3600) / 60 * 60 ))
from=$(date -u -d "@$((old - 60))" +%Y-%m-%dT%H:%M)
to=$(date -u -d "@$((old + 120))" +%Y-%m-%dT%H:%M)
# (statements in blocks: evaluations share the page's global scope)
js "{ const d = document.getElementById('dim'); d.value = 'url'; d.dispatchEvent(new Event('change'));
      const r = document.getElementById('range'); r.value = 'custom'; r.dispatchEvent(new Event('change'));
      document.getElementById('from').value = '$from'; document.getElementById('to').value = '$to'; } 1" >/dev/null
$CDP "$DT" click 'document.getElementById("apply")'
check "a custom range shows only what it covers" until_js "($VALUES)('urls') === '/old/report'"
got=$(js 'location.hash')
check "the URL keeps the custom range in epoch seconds: $got" \
	test "$got" = "#from=$((old - 60))&to=$((old + 120))&dim=url"
check "the page reports no error" test -z "$(js 'document.getElementById("error").textContent')"
$CDP "$DT" eval 'new Promise(r => setTimeout(r, 200))' >/dev/null
kill "$CHROME_PID" 2>/dev/null
wait "$CHROME_PID" 2>/dev/null
trap - EXIT

agg_stop "$AGG_PID" >/dev/null
