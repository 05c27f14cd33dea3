#!/usr/bin/env bash
# aggregator_when.sh: conditional dimensions end to end. A generated
# combined log with a mix of methods (lowercase "post" among them),
# statuses, referers (ports, users, IPv6 literals, "-", none, garbage) and
# user agents goes to the shared broker; logtally-aggregator --once counts
# it with the sample's four conditional dimensions ("404 URLs", "5xx URLs",
# "POST targets", "referrers of 404s") and three more (remote_addr, a list
# of codes and classes, a match with a not_match); every row of the counts
# table is compared with an oracle written here in awk, which shares no
# code with the aggregator. A refused when stops the start with status 2
# and FILE:LINE:COLUMN.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"
# shellcheck source=aggregator_lib.sh
. "$(dirname "$0")/aggregator_lib.sh"

plan 5
agent_require
agg_require

BROKERS=$LOGTALLY_KAFKA_BROKERS
LOG=$TAP_TMP/when.log
# 2026-11-01 10:00:00 UTC: older than the default retention, hence
# retention {} below.
BASE=1793527200

# 3000 lines, 20 a second (so 5 s windows of 100 lines), from a fixed seed.
perl -e '
	my ($base) = @ARGV;
	srand(13);
	my @addr = ("203.0.113.7", "198.51.100.23", "2001:db8::1", "::1", "10.0.0.9");
	my @method = ("GET", "GET", "GET", "POST", "POST", "HEAD", "PUT", "post", "DELETE");
	my @status = (200, 200, 200, 201, 301, 304, 400, 401, 403, 404, 404, 404,
		      500, 502, 503, 599);
	my @target = ("/", "/a", "/b/c?x=1", "/login", "/api/v1/items?id=7", "/d#top",
		      "/missing.php", "/search?q=%23tag");
	my @referer = ("-", "-", "", "https://Example.COM:8443/x", "http://user:pw\@www.example.org/a",
		       "http://[::1]:8080/", "http://[2001:DB8::5]/p", "https://search.example.net/?q=a",
		       "android-app://com.google.android.gm", "garbage", "//cdn.example.com/x.js",
		       "example.com/no-scheme", "HTTPS://WWW.EXAMPLE.ORG");
	my @ua = ("Mozilla/5.0", "curl/8.1", "Googlebot/2.1", "my-BOT", "Slackbot 1.0 (+https://api.slack.com/robots)");
	my @mon = qw(Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec);
	for my $i (0 .. 2999) {
		my @t = gmtime($base + int($i / 20));
		printf("%s - - [%02d/%s/%d:%02d:%02d:%02d +0000] \"%s %s HTTP/1.1\" %d %d \"%s\" \"%s\"\n",
		       $addr[rand @addr], $t[3], $mon[$t[4]], $t[5] + 1900, $t[2], $t[1], $t[0],
		       $method[rand @method], $target[rand @target], $status[rand @status],
		       int(rand 5000), $referer[rand @referer], $ua[rand @ua]);
	}
' "$BASE" >"$LOG"

# The oracle: DIMENSION TAB WINDOW_START (epoch) TAB VALUE TAB HITS.
oracle() {
	LC_ALL=C awk -F'"' '
		# The referring site: the host of scheme://[user@]host[:port]/...
		# or //host..., lowercased; nothing without a scheme.
		function site(r,    h, i) {
			if (r ~ /^[A-Za-z][A-Za-z0-9+.-]*:\/\//)
				sub(/^[A-Za-z][A-Za-z0-9+.-]*:\/\//, "", r)
			else if (r ~ /^\/\//)
				r = substr(r, 3)
			else
				return ""
			h = r
			sub(/[\/?#].*/, "", h)
			sub(/.*@/, "", h)
			if (substr(h, 1, 1) == "[") {
				i = index(h, "]")
				h = i ? substr(h, 1, i) : ""
			} else {
				sub(/:.*/, "", h)
			}
			return tolower(h)
		}
		function count(dim, value) {
			if (value != "")
				n[dim "\t" w "\t" value]++
		}
		{
			split($1, head, " ")
			addr = head[1]
			t = head[4]     # [01/Nov/2026:10:00:00
			split($2, req, " ")
			method = req[1]; target = req[2]
			path = target; sub(/[?#].*/, "", path)
			split($3, tail, " ")
			status = tail[1]
			referer = $4; ua = $6
			secs = substr(t, 14, 2) * 3600 + substr(t, 17, 2) * 60 + substr(t, 20, 2)
			w = base - base % 86400 + secs - secs % 5
			if (status == "404") count("url_404", path)
			if (status ~ /^5[0-9][0-9]$/) count("url_5xx", path)
			if (method == "POST") count("post_target", target)
			if (status == "404") count("referer_404", site(referer))
			count("client", addr)
			if (status ~ /^(401|403|5[0-9][0-9])$/) count("denied", path)
			if (tolower(ua) ~ /bot/ && ua !~ /Slack/ && method == "GET") count("bot_gets", path)
		}
		END { for (k in n) print k "\t" n[k] }
	' base="$BASE" "$LOG" | LC_ALL=C sort
}

dims="dimension IN ('url_404', 'url_5xx', 'post_target', 'referer_404', 'client', 'denied', 'bot_gets')"
table() {
	agg_sql "$1" "SELECT dimension, TIMESTAMPDIFF(SECOND, '1970-01-01', window_start),
		value, hits FROM counts WHERE window_seconds = 5 AND $dims" | LC_ALL=C sort
}

TOPIC=$(agent_topic agg-when)
DB=$(agg_db when)
agg_config "$TAP_TMP/agg.yml" "$BROKERS" "$TOPIC" "$DB" 'retention: {}' \
	'dimensions:' \
	'  - {name: url_404, from: path, when: {status: 404}}' \
	'  - {name: url_5xx, from: path, when: {status: 5xx}}' \
	'  - {name: post_target, from: target, when: {method: POST}}' \
	'  - {name: referer_404, from: referer_host, when: {status: 404}}' \
	'  - {name: client, from: remote_addr}' \
	'  - {name: denied, from: path, when: {status: [401, 403, 5xx]}}' \
	"  - {name: bot_gets, from: path, when: {method: GET, user_agent: {match: '(?i)bot', not_match: Slack}}}"
agg_produce "$BROKERS" "$TOPIC" "$LOG"
produced=$?
agg_once when "$TAP_TMP/agg.yml"
if [ "$produced" = 0 ] && [ "$AGG_RC" = 0 ] && [ "$(agg_stored "$DB" "$TOPIC")" = 3000 ]; then
	ok "3000 lines: aggregator --once with seven conditional dimensions exits 0, every offset stored"
else
	not_ok "3000 lines: aggregator --once with seven conditional dimensions exits 0, every offset stored" \
	       "kcat $produced, status $AGG_RC, stored $(agg_stored "$DB" "$TOPIC"): $(tail -n 20 "$TAP_TMP/when.err")"
fi

oracle >"$TAP_TMP/want"
table "$DB" >"$TAP_TMP/got"
# The oracle must see every kind of row, or the comparison proves little.
covered() {
	local dim
	for dim in url_404 url_5xx post_target referer_404 client denied bot_gets; do
		grep -q "^$dim	" "$TAP_TMP/want" || { echo "the oracle has no $dim row"; return 1; }
	done
	grep -q "^referer_404	[0-9]*	\[::1\]	" "$TAP_TMP/want" &&
		grep -q "^referer_404	[0-9]*	example.com	" "$TAP_TMP/want" ||
		{ echo "the oracle has no [::1] or example.com referrer"; return 1; }
}
check "the log holds every kind of row ($(wc -l <"$TAP_TMP/want") rows in the oracle)" covered
if diff "$TAP_TMP/want" "$TAP_TMP/got" >"$TAP_TMP/diff"; then
	ok "every row (dimension, window, value, hits) equals the oracle's, row by row"
else
	not_ok "every row (dimension, window, value, hits) equals the oracle's, row by row" \
	       "$(head -n 20 "$TAP_TMP/diff")"
fi

# A refused when: exit status 2, the message at its line and column.
agg_config "$TAP_TMP/bad.yml" "$BROKERS" "$TOPIC" "$DB" \
	'dimensions:' '  - {name: url_6xx, from: path, when: {status: 6xx}}'
line=$(grep -n 'url_6xx' "$TAP_TMP/bad.yml" | cut -d: -f1)
refused() {   # ARG...: the aggregator's status 2 and the error on stderr
	"$AGGREGATOR" --config "$TAP_TMP/bad.yml" "$@" >/dev/null 2>"$TAP_TMP/bad.err"
	local rc=$?
	[ "$rc" = 2 ] && grep -q "^$TAP_TMP/bad.yml:$line:48: dimensions\[0\].when.status.is\[0\]: '6xx' is not a status" \
		"$TAP_TMP/bad.err" || { echo "status $rc: $(cat "$TAP_TMP/bad.err")"; return 1; }
}
check "a status class 6xx: --check-config and a start exit 2 with FILE:LINE:COLUMN" \
	eval 'refused --check-config && refused --once'

check "no sanitizer report in the aggregator's stderr" agg_sanitizer_clean
