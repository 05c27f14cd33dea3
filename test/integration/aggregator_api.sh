#!/usr/bin/env bash
# aggregator_api.sh: the HTTP API of logtally-aggregator (issue 5) against
# the dev MariaDB, with rows written into counts by the test (the known
# answers below are worked out by hand from them): /api/top reads the
# coarsest window size that covers the range exactly; values come back byte
# for byte; /api/series fills every step; /api/trending ranks by the
# documented score; bad parameters get a 400 naming the parameter; the
# token guards everything but /healthz. JSON is read with Perl's JSON::PP.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"
# shellcheck source=aggregator_lib.sh
. "$(dirname "$0")/aggregator_lib.sh"

plan 26
agg_require
command -v curl >/dev/null || bail_out "curl is not installed"
perl -MJSON::PP -e 1 2>/dev/null || bail_out "Perl's JSON::PP is missing"

TOKEN=t0k3n-$$
H=1795575600    # 2026-11-25T03:00:00Z, a whole hour

TOPIC=$(agent_topic agg-api)
DB=$(agg_db api)
agg_config "$TAP_TMP/agg.yml" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$DB" 'retention: {}'
sed -i "s/^  listen: 127.0.0.1:0$/  listen: 127.0.0.1:0\n  token: $TOKEN/" "$TAP_TMP/agg.yml"
agg_start api "$TAP_TMP/agg.yml"
PORT=$(agg_wait_port api) || bail_out "no port: $(tail -n 5 "$TAP_TMP/api.err")"
wait_until 30 agg_sql "$DB" "SELECT 1 FROM counts LIMIT 1" ||
	bail_out "no counts table: $(tail -n 5 "$TAP_TMP/api.err")"

# GET PATH [TOKEN]: the status, a newline, the body.
get() {
	curl -s --max-time 20 -o "$TAP_TMP/body" -w '%{http_code}\n' \
		${2:+-H "Authorization: Bearer $2"} "http://127.0.0.1:$PORT$1"
	cat "$TAP_TMP/body"
}

# What a JSON answer says, one line: Perl code over $j (the decoded body).
say() {   # PERL-EXPRESSION
	perl -MJSON::PP -CS -e 'local $/; my $t = <STDIN>; $t =~ s/^\d+\n//;
		my $j = JSON::PP->new->utf8->decode($t); print eval($ARGV[0]), "\n";
		die $@ if $@' "$1"
}

# TOP: "SECONDS value=hits value=hits ..." of an /api/top answer.
TOP='join(" ", $j->{window_seconds}, map { "$_->{value}=$_->{hits}" } @{$j->{items}})'

# --- rows ------------------------------------------------------------------

agg_sql "$DB" "SET time_zone = '+00:00';
INSERT INTO counts (window_seconds, window_start, dimension, value, hits) VALUES
 (5, FROM_UNIXTIME($H), 'url', '/a', 3),
 (5, FROM_UNIXTIME($H + 5), 'url', '/a', 2),
 (5, FROM_UNIXTIME($H + 5), 'url', '/b', 7),
 (5, FROM_UNIXTIME($H + 65), 'url', '/c', 4),
 (60, FROM_UNIXTIME($H), 'url', '/a', 5),
 (60, FROM_UNIXTIME($H), 'url', '/b', 7),
 (60, FROM_UNIXTIME($H + 60), 'url', '/c', 4),
 (3600, FROM_UNIXTIME($H), 'url', '/a', 5),
 (3600, FROM_UNIXTIME($H), 'url', '/b', 7),
 (3600, FROM_UNIXTIME($H), 'url', '/c', 4),
 (5, FROM_UNIXTIME($H + 20), 'url', CONCAT('/q\"', CHAR(92), ''');--<script>añoNuevo😀'), 9)" ||
	bail_out "cannot insert the rows"

# --- /api/top ---------------------------------------------------------------

auth() { get "$1" "$TOKEN"; }

got=$(auth "/api/top?dimension=url&from=$H&to=$((H + 3600))" | say "$TOP")
check "an aligned hour reads the 1 h rollup: $got" test "$got" = "3600 /b=7 /a=5 /c=4"
got=$(auth "/api/top?dimension=url&from=2026-11-25T03:00:00Z&to=2026-11-25T03:02:00Z" | say "$TOP")
check "two aligned minutes (RFC 3339) read the 1 min rollup: $got" test "$got" = "60 /b=7 /a=5 /c=4"
got=$(auth "/api/top?dimension=url&from=$((H + 5))&to=$((H + 70))&limit=3" | say "$TOP")
check "an unaligned range reads 5 s windows: $got" test "$got" = "5 /q\"\\');--<script>añoNuevo😀=9 /b=7 /c=4"
got=$(auth "/api/top?dimension=url&from=$((H + 3))&to=$((H + 9))" | say 'join(" ", @$j{qw(from to window_seconds)})')
check "from and to are widened to whole windows and said so: $got" test "$got" = "$H $((H + 10)) 5"
got=$(auth "/api/top?dimension=url&from=$H&to=$((H + 3600))&limit=1" | say "$TOP")
check "limit cuts the list: $got" test "$got" = "3600 /b=7"
got=$(auth "/api/top?dimension=url&from=$((H + 20))&to=$((H + 25))" | say '$j->{items}[0]{value}')
check "a value with quotes, a backslash, SQL, a tag and non-ASCII comes back byte for byte" \
	test "$got" = "/q\"\\');--<script>añoNuevo😀"
got=$(auth "/api/top?dimension=url" | say 'join(" ", $j->{to} - $j->{from} >= 900 ? "15min" : "short", scalar @{$j->{items}})')
check "from and to default to the last 15 minutes (no rows there): $got" test "$got" = "15min 0"

# --- /api/series ------------------------------------------------------------

SERIES='join(" ", $j->{window_seconds}, $j->{step}, map { my $s = $_; "$s->{value}:" . join(",", map { ($_->[0] - '"$H"') . "=" . $_->[1] } @{$s->{points}}) } @{$j->{series}})'
got=$(auth "/api/series?dimension=url&from=$H&to=$((H + 120))&step=1m" | say "$SERIES")
check "series: every step of the top values, zeros included: $got" \
	test "$got" = "60 60 /b:0=7,60=0 /a:0=5,60=0 /c:0=0,60=4"
got=$(auth "/api/series?dimension=url&from=$H&to=$((H + 70))&step=10&limit=2" | say "$SERIES")
check "series at 5 s windows with a 10 s step: $got" \
	test "$got" = "5 10 /q\"\\');--<script>añoNuevo😀:0=0,10=0,20=9,30=0,40=0,50=0,60=0 /b:0=7,10=0,20=0,30=0,40=0,50=0,60=0"

# --- /api/trending ---------------------------------------------------------

# Rows around now: "rising" 0 -> 50, "bigger" 12000 -> 1300, "tiny" 0 -> 1,
# "steady" 1200 -> 100 (exactly what the hour predicts: score 0, left out).
now=$(( $(date +%s) / 5 * 5 ))
agg_sql "$DB" "SET time_zone = '+00:00';
INSERT INTO counts (window_seconds, window_start, dimension, value, hits) VALUES
 (5, FROM_UNIXTIME($now - 100), 'hashtag', 'rising', 50),
 (5, FROM_UNIXTIME($now - 100), 'hashtag', 'bigger', 1300),
 (5, FROM_UNIXTIME($now - 1000), 'hashtag', 'bigger', 12000),
 (5, FROM_UNIXTIME($now - 95), 'hashtag', 'tiny', 1),
 (5, FROM_UNIXTIME($now - 90), 'hashtag', 'steady', 100),
 (5, FROM_UNIXTIME($now - 2000), 'hashtag', 'steady', 1200)" ||
	bail_out "cannot insert the hashtag rows"
got=$(auth "/api/trending" | say 'join(" ", $j->{window_seconds}, map { sprintf "%s:%.3f:%d:%d", @$_{qw(value score hits baseline_hits)} } @{$j->{items}})')
want=$(perl -e 'printf "300 rising:%.3f:50:0 bigger:%.3f:1300:12000 tiny:%.3f:1:0\n",
	50, (1300 - 1000) / sqrt(1001), 1' )
check "trending: (n - e) / sqrt(e + 1), highest first, only rising values: $got" test "$got" = "$want"
got=$(auth "/api/trending?window=1m&limit=1" | say 'join(" ", $j->{window_seconds}, scalar @{$j->{items}})')
check "trending takes a window and a limit: $got" test "$got" = "60 0"

# --- bad parameters ---------------------------------------------------------

# bad PATH PARAMETER: a 400 whose JSON names PARAMETER.
bad() {
	local out
	out=$(auth "$1")
	[ "$(head -n 1 <<<"$out")" = 400 ] &&
		[ "$(say '$j->{parameter} . ($j->{error} ne "" ? "" : "!")' <<<"$out")" = "$2" ]
}
check "no dimension: 400 on dimension" bad "/api/top" dimension
check "an unknown dimension (and SQL in it): 400 on dimension" \
	bad "/api/top?dimension=url%27%20OR%201%3D1" dimension
check "from that is no time: 400 on from" bad "/api/top?dimension=url&from=yesterday" from
check "to before from: 400 on from" bad "/api/top?dimension=url&from=$((H + 60))&to=$H" from
check "limits 0, 1001 and abc: 400 on limit" eval \
	'bad "/api/top?dimension=url&limit=0" limit && bad "/api/top?dimension=url&limit=1001" limit && bad "/api/top?dimension=url&limit=abc" limit'
check "a step of 7 s (not whole windows) and a step too small: 400 on step" eval \
	'bad "/api/series?dimension=url&step=7" step && bad "/api/series?dimension=url&from=$H&to=$((H + 86400))&step=5" step'
check "a trending window of 7 s: 400 on window" bad "/api/trending?window=7s" window
out=$(auth "/api/nowhere")
check "an unknown endpoint: 404 in JSON" eval \
	'[ "$(head -n 1 <<<"$out")" = 404 ] && say "\$j->{error}" <<<"$out" | grep -q "no such endpoint"'

# Only the built-in pages: no file, no listing, whatever the path.
outside() {
	local p s
	for p in /../../etc/passwd /%2e%2e/%2e%2e/etc/passwd /index.html /static/ \
		 /dashboard.html /api/../metrics/x //etc/passwd; do
		s=$(curl -s --path-as-is -o /dev/null -w '%{http_code}' \
			-H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$p")
		[ "$s" = 404 ] || { echo "$p: $s"; return 1; }
	done
}
check "paths outside the built-in pages get 404" outside

# --- the aggregator's own state ------------------------------------------------

got=$(auth "/api/status" | say 'join(" ", map { exists $j->{$_} ? $_ : "-" } qw(health db_up partitions lag messages last_flush_age_seconds))')
check "/api/status: health, db_up, partitions, lag, messages, last flush age ($got)" \
	test "$got" = "health db_up partitions lag messages last_flush_age_seconds"
check "/metrics has the consumer lag and the last flush's age" eval \
	'auth /metrics >"$TAP_TMP/metrics" && grep -q "^logtally_aggregator_consumer_lag " "$TAP_TMP/metrics" &&
	 grep -q "^logtally_aggregator_last_flush_age_seconds " "$TAP_TMP/metrics"'

# --- the token ---------------------------------------------------------------

statuses=$(for t in "" wrong "$TOKEN"; do get "/api/top?dimension=url" "$t" | head -n 1; done | tr '\n' ' ')
check "the API needs the token: none 401, wrong 401, right 200 ($statuses)" test "$statuses" = "401 401 200 "
metrics=$(get /metrics | head -n 1)
health=$(get /healthz | head -n 1)
check "/metrics needs it too ($metrics), /healthz does not ($health)" \
	eval '[ "$metrics" = 401 ] && [ "$health" != 401 ] && [ "$health" != 404 ]'

agg_stop "$AGG_PID"
rc=$?
check "the aggregator stops on SIGTERM with status 0" test "$rc" = 0
check "no sanitizer report in the aggregator's stderr" agg_sanitizer_clean
