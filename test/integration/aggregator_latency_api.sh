#!/usr/bin/env bash
# aggregator_latency_api.sh: the measures of issue 13 through the HTTP API,
# against the dev MariaDB, with rows written into counts and latency by the
# test. Every answer below is worked out by hand from those rows and the
# bucket bounds of config/schema.sql (bucket b holds (le[b-1], le[b]]):
# /api/top ordered by each `by`, /api/latency's sums, percentiles with their
# bounds and histogram, /api/series of bytes, averages and percentiles per
# step, the stated error bound, and a 400 for each bad measure.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"
# shellcheck source=aggregator_lib.sh
. "$(dirname "$0")/aggregator_lib.sh"

plan 24
agg_require
command -v curl >/dev/null || bail_out "curl is not installed"
perl -MJSON::PP -e 1 2>/dev/null || bail_out "Perl's JSON::PP is missing"

H=1795575600    # 2026-11-25T03:00:00Z, a whole hour
TOPIC=$(agent_topic agg-lat)
DB=$(agg_db lat)
agg_config "$TAP_TMP/agg.yml" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$DB" 'retention: {}'
agg_start lat "$TAP_TMP/agg.yml"
PORT=$(agg_wait_port lat) || bail_out "no port: $(tail -n 5 "$TAP_TMP/lat.err")"
has_buckets() { agg_sql "$DB" "SELECT 1 FROM latency_buckets LIMIT 1" | grep -q 1; }
wait_until 30 has_buckets ||
	bail_out "no latency_buckets table: $(tail -n 5 "$TAP_TMP/lat.err")"

# GET PATH: the status, a newline, the body.
get() {
	curl -s --max-time 20 -o "$TAP_TMP/body" -w '%{http_code}\n' "http://127.0.0.1:$PORT$1"
	cat "$TAP_TMP/body"
}

# What a JSON answer says, one line: Perl code over $j (the decoded body);
# est($e) writes a percentile as VALUE[LO,HI], or "null".
say() {   # PERL-EXPRESSION
	perl -MJSON::PP -CS -e 'local $/; my $t = <STDIN>; $t =~ s/^\d+\n//;
		my $j = JSON::PP->new->utf8->decode($t);
		sub est { my $e = shift; defined $e ? "$e->{value_us}\[$e->{lo_us},$e->{hi_us}]" : "null" }
		sub n { defined $_[0] ? $_[0] : "null" }
		print eval($ARGV[0]), "\n"; die $@ if $@' "$1"
}

# --- rows --------------------------------------------------------------------
# One minute at H and one at H + 60 (60 s windows):
#   /fast    10 hits, 6 in bucket 2 (125, 160], 4 in bucket 3 (160, 200], max 180
#   /slow    3 hits in bucket 10 (800, 1000] at H, max 900; 1 hit in bucket
#            30 (80000, 100000] at H + 60, max 90000
#   /steady  4 hits in bucket 25 (25000, 31500], each 30000
#   /big     2 hits in bucket 20 (8000, 10000], max 9500
#   /nodur   100 hits without a duration
agg_sql "$DB" "SET time_zone = '+00:00';
INSERT INTO counts (window_seconds, window_start, dimension, value, hits, bytes,
		    duration_count, duration_us_sum, duration_us_max) VALUES
 (60, FROM_UNIXTIME($H), 'url', '/fast', 10, 1000, 10, 1500, 180),
 (60, FROM_UNIXTIME($H), 'url', '/slow', 3, 30000, 3, 2700, 900),
 (60, FROM_UNIXTIME($H + 60), 'url', '/slow', 1, 10000, 1, 90000, 90000),
 (60, FROM_UNIXTIME($H), 'url', '/steady', 4, 4000, 4, 120000, 30000),
 (60, FROM_UNIXTIME($H), 'url', '/big', 2, 1000000, 2, 18000, 9500),
 (60, FROM_UNIXTIME($H), 'url', '/nodur', 100, 5, 0, 0, 0);
INSERT INTO latency (window_seconds, window_start, dimension, value, bucket, hits) VALUES
 (60, FROM_UNIXTIME($H), 'url', '/fast', 2, 6),
 (60, FROM_UNIXTIME($H), 'url', '/fast', 3, 4),
 (60, FROM_UNIXTIME($H), 'url', '/slow', 10, 3),
 (60, FROM_UNIXTIME($H + 60), 'url', '/slow', 30, 1),
 (60, FROM_UNIXTIME($H), 'url', '/steady', 25, 4),
 (60, FROM_UNIXTIME($H), 'url', '/big', 20, 2)" ||
	bail_out "cannot insert the rows"

R="dimension=url&from=$H&to=$((H + 120))"

# --- /api/top?by= ---------------------------------------------------------------

top() {   # BY PERL-ITEM-EXPRESSION
	get "/api/top?$R&by=$1" | say 'join(" ", $j->{window_seconds}, $j->{by}, map { my $i = $_; "$i->{value}=" . '"$2"' } @{$j->{items}})'
}
got=$(top hits '$i->{hits}')
check "by=hits: most hits first, ties by value: $got" \
	test "$got" = "60 hits /nodur=100 /fast=10 /slow=4 /steady=4 /big=2"
got=$(get "/api/top?$R" | say 'join(" ", $j->{by}, map { $_->{value} } @{$j->{items}})')
check "no by: hits, as before: $got" test "$got" = "hits /nodur /fast /slow /steady /big"
got=$(top bytes '$i->{bytes}')
check "by=bytes: the sum of response sizes: $got" \
	test "$got" = "60 bytes /big=1000000 /slow=40000 /steady=4000 /fast=1000 /nodur=5"
got=$(top duration_avg '"$i->{duration_avg_us}/$i->{duration_count}"')
check "by=duration_avg: sum / count rounded, values without durations left out: $got" \
	test "$got" = "60 duration_avg /steady=30000/4 /slow=23175/4 /big=9000/2 /fast=150/10"
got=$(top duration_max '$i->{duration_max_us}')
check "by=duration_max: the largest duration: $got" \
	test "$got" = "60 duration_max /slow=90000 /steady=30000 /big=9500 /fast=180"
got=$(top p50 'est($i->{p50})')
check "by=p50: interpolated in the rank's bucket, with its bounds: $got" \
	test "$got" = "60 p50 /steady=27500[25000,30000] /big=8750[8000,9500] /slow=933[800,1000] /fast=154[125,160]"
got=$(top p95 'est($i->{p95})')
check "by=p95: the upper bound clamped to the maximum: $got" \
	test "$got" = "60 p95 /slow=90000[80000,90000] /steady=30000[25000,30000] /big=9500[8000,9500] /fast=180[160,180]"
got=$(get "/api/top?$R&by=p99&limit=2" | say 'join(" ", $j->{candidates}, map { "$_->{value}=" . est($_->{p99}) } @{$j->{items}})')
check "by=p99 with a limit, over the stated candidates: $got" \
	test "$got" = "200 /slow=90000[80000,90000] /steady=30000[25000,30000]"
got=$(get "/api/top?$R&by=p95" | say '$j->{error}')
check "a percentile order states its error bound" \
	eval '[[ "$got" == "each percentile lies in [lo_us, hi_us], the bounds of its histogram bucket"*"within 28% of the true percentile"* ]]'
got=$(get "/api/top?$R&by=hits" | say 'join(" ", map { "$_->{value}:" . n($_->{duration_avg_us}) . ":" . n($_->{duration_max_us}) . ":" . (exists $_->{p95} ? "p95" : "-") } @{$j->{items}}[0, 1])')
check "items carry averages and maxima, null without durations, no percentile unasked: $got" \
	test "$got" = "/nodur:null:null:- /fast:150:180:-"

# --- /api/latency -----------------------------------------------------------------

LAT='join(" ", map({ n($_) } @$j{qw(window_seconds hits bytes count duration_avg_us duration_max_us)}), map({ "$_=" . est($j->{$_}) } qw(p50 p90 p95 p99)), map { "$_->{bucket}:$_->{le}:$_->{hits}" } @{$j->{histogram}})'
got=$(get "/api/latency?$R&value=/slow" | say "$LAT")
check "latency of /slow: sums, percentiles with bounds, the histogram with le: $got" \
	test "$got" = "60 4 40000 4 23175 90000 p50=933[800,1000] p90=90000[80000,90000] p95=90000[80000,90000] p99=90000[80000,90000] 10:0.001:3 30:0.1:1"
got=$(get "/api/latency?$R&value=%2Ffast" | say "$LAT")
check "latency of /fast: $got" \
	test "$got" = "60 10 1000 10 150 180 p50=154[125,160] p90=175[160,180] p95=180[160,180] p99=180[160,180] 2:0.00016:6 3:0.0002:4"
got=$(get "/api/latency?dimension=url&from=$H&to=$((H + 60))&value=/slow" | say "$LAT")
check "latency over the first minute only: $got" \
	test "$got" = "60 3 30000 3 900 900 p50=867[800,900] p90=900[800,900] p95=900[800,900] p99=900[800,900] 10:0.001:3"
got=$(get "/api/latency?$R&value=/nodur" | say "$LAT")
check "latency of a value without durations: nulls and no buckets: $got" \
	test "$got" = "60 100 5 0 null null p50=null p90=null p95=null p99=null"
got=$(get "/api/latency?$R&value=/slow" | say '$j->{value} . " " . ($j->{error} =~ /^each percentile lies in \[lo_us, hi_us\]/ ? "bound" : "none")')
check "latency names the value and states the error bound: $got" test "$got" = "/slow bound"

# --- /api/series?measure= ---------------------------------------------------------

SERIES='join(" ", $j->{measure}, map { my $s = $_; "$s->{value}:" . join(",", map { ($_->[0] - '"$H"') . "=" . n($_->[1]) . (@$_ > 2 ? "[$_->[2],$_->[3]]" : "") } @{$s->{points}}) } @{$j->{series}})'
got=$(get "/api/series?$R&step=60&measure=bytes&value=/slow" | say "$SERIES")
check "series of bytes of one value: $got" test "$got" = "bytes /slow:0=30000,60=10000"
got=$(get "/api/series?$R&step=60&measure=p95&value=/slow" | say "$SERIES")
check "series of p95 per step, each with its bounds: $got" \
	test "$got" = "p95 /slow:0=900[800,900],60=90000[80000,90000]"
got=$(get "/api/series?$R&step=60&measure=duration_avg&limit=2" | say "$SERIES")
check "series of the average for the top values by it, null without durations: $got" \
	test "$got" = "duration_avg /steady:0=30000,60=null /slow:0=900,60=90000"
got=$(get "/api/series?$R&step=60&measure=p50&value=/nowhere" | say "$SERIES")
check "series of a value without rows: nulls: $got" test "$got" = "p50 /nowhere:0=null,60=null"

# --- bad parameters -----------------------------------------------------------------

bad() {   # PATH PARAMETER
	local out
	out=$(get "$1")
	[ "$(head -n 1 <<<"$out")" = 400 ] &&
		[ "$(say '$j->{parameter} . ($j->{error} =~ /hits, bytes, duration_avg/ || $j->{parameter} ne "by" && $j->{parameter} ne "measure" ? "" : "!")' <<<"$out")" = "$2" ]
}
check "by=p42, by= and measure=p42: 400 naming the measures" eval \
	'bad "/api/top?$R&by=p42" by && bad "/api/top?$R&by=" by && bad "/api/series?$R&measure=p42" measure'
check "latency without a value, or an empty one: 400 on value" eval \
	'bad "/api/latency?$R" value && bad "/api/latency?$R&value=" value'
check "latency of an unknown dimension: 400 on dimension" \
	bad "/api/latency?dimension=nope&value=/slow" dimension

got=$(get "/api/dimensions" | say 'join(" ", join(",", @{$j->{dimensions}}), join(",", @{$j->{measures}}))')
check "/api/dimensions lists the dimensions and the measures: $got" \
	eval '[[ "$got" == *url* && "$got" == *" hits,bytes,duration_avg,duration_max,p50,p95,p99" ]]'

agg_stop "$AGG_PID"
check "the aggregator stops on SIGTERM; no sanitizer report" eval 'agg_sanitizer_clean'
