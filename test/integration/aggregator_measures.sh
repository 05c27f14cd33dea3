#!/usr/bin/env bash
# aggregator_measures.sh: bytes, durations and latency histograms in batch,
# for each way a log can carry a request time: nginx's $request_time
# (log_format nginx_request_time), Apache's %D (apache_duration_us) and a
# custom pattern naming request_time. Each time logtally-aggregator --once
# counts 3000 lines from the shared broker, and every row of counts
# (hits, bytes, timed hits, duration sum and maximum) and of latency
# (hits per bucket), in 5 s windows and both rollups, equals the oracle of
# aggregator_lib.sh, which shares no code with the aggregator. Then the
# comparison itself is tested: one byte more in one row, or one latency
# row gone, and it fails.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"
# shellcheck source=aggregator_lib.sh
. "$(dirname "$0")/aggregator_lib.sh"

plan 8
agent_require
agg_require

BROKERS=$LOGTALLY_KAFKA_BROKERS
# Lines from two hours ago, so that the 1 h rollup spans two windows.
START=$(( $(date +%s) / 3600 * 3600 - 5400 ))

# batch NAME FORMAT LOG: --once over LOG with log_format FORMAT into a
# database of its own (printed); the check that it counted everything.
batch() {
	local name=$1 format=$2 log=$3 topic db
	topic=$(agent_topic "agg-$name")
	db=$(agg_db "$name")
	agg_config "$TAP_TMP/$name.yml" "$BROKERS" "$topic" "$db" "log_format: '$format'" \
		'retention: {}'
	agg_produce "$BROKERS" "$topic" "$log" || return 1
	agg_once "$name" "$TAP_TMP/$name.yml"
	[ "$AGG_RC" = 0 ] && [ "$(agg_stored "$db" "$topic")" = "$(wc -l <"$log")" ] || {
		echo "status $AGG_RC, stored $(agg_stored "$db" "$topic"): $(tail -n 20 "$TAP_TMP/$name.err")" >&2
		return 1
	}
	echo "$db"
}

# exact DB LOG: every window size equals the oracle.
exact() {
	agg_exact "$1" 5 "$2" && agg_exact "$1" 60 "$2" && agg_exact "$1" 3600 "$2"
}

# The oracle must see times spread over many buckets, or it proves little.
spread() {
	local buckets
	buckets=$(agg_oracle latency status "$1" | cut -f2 | sort -u | wc -l)
	[ "$buckets" -ge 20 ] || { echo "only $buckets buckets in the oracle"; return 1; }
}

# nginx: combined + $request_time, seconds with millisecond resolution.
"$top_srcdir/scripts/sample-log" --request-time 3000 7 "$START" >"$TAP_TMP/nginx.log"
if DB_N=$(batch nginx nginx_request_time "$TAP_TMP/nginx.log") &&
   spread "$TAP_TMP/nginx.log" >"$TAP_TMP/spread" && d=$(exact "$DB_N" "$TAP_TMP/nginx.log"); then
	ok "nginx_request_time: every measure and bucket equals the oracle, in every window size"
else
	not_ok "nginx_request_time: every measure and bucket equals the oracle, in every window size" \
	       "$(cat "$TAP_TMP/spread") ${d:-}"
fi

# Apache: combined + %D, microseconds; a few sizes of "-".
perl -pe 'BEGIN { srand(9) } s/ (\d+)\.(\d{3})$/" " . ($1 * 1000000 + $2 * 1000 + int(rand(1000)))/e' \
	"$TAP_TMP/nginx.log" >"$TAP_TMP/apache.log"
export AGG_TIME_UNIT=us
if DB_A=$(batch apache apache_duration_us "$TAP_TMP/apache.log") &&
   d=$(exact "$DB_A" "$TAP_TMP/apache.log"); then
	ok "apache_duration_us: every measure and bucket equals the oracle, in every window size"
else
	not_ok "apache_duration_us: every measure and bucket equals the oracle, in every window size" "${d:-}"
fi
unset AGG_TIME_UNIT

# A custom pattern that names request_time.
PATTERN='^(?<remote_addr>\S+) \S+ (?<remote_user>\S+) \[(?<time>[^\]]+)\] "(?<request>(?:[^"\\]|\\.)*)" (?<status>\d+) (?<bytes>\d+|-) "(?<referer>(?:[^"\\]|\\.)*)" "(?<user_agent>(?:[^"\\]|\\.)*)" (?<request_time>\S+)$'
if DB_C=$(batch custom "$PATTERN" "$TAP_TMP/nginx.log") &&
   d=$(exact "$DB_C" "$TAP_TMP/nginx.log"); then
	ok "a custom pattern naming request_time: every measure and bucket equals the oracle"
else
	not_ok "a custom pattern naming request_time: every measure and bucket equals the oracle" "${d:-}"
fi

# Without a time, bytes still count and nothing else does.
sed 's/ [0-9.]*$//' "$TAP_TMP/nginx.log" >"$TAP_TMP/plain.log"
if DB_P=$(batch plain combined "$TAP_TMP/plain.log") && d=$(exact "$DB_P" "$TAP_TMP/plain.log") &&
   [ "$(agg_sql "$DB_P" "SELECT COUNT(*) FROM latency")" = 0 ] &&
   [ "$(agg_sql "$DB_P" "SELECT SUM(duration_count) FROM counts")" = 0 ]; then
	ok "combined (no time): bytes equal the oracle, no duration and no latency row"
else
	not_ok "combined (no time): bytes equal the oracle, no duration and no latency row" "${d:-}"
fi

# The comparison catches one byte, one duration and one latency row.
tampered() {   # SQL: agg_exact must fail after it, and pass once it is undone
	agg_sql "$DB_N" "$1" && ! agg_exact "$DB_N" 5 "$TAP_TMP/nginx.log" >/dev/null &&
		agg_sql "$DB_N" "$2" && agg_exact "$DB_N" 5 "$TAP_TMP/nginx.log" >/dev/null
}
check "one byte more in one row makes the comparison fail" tampered \
	"UPDATE counts SET bytes = bytes + 1 WHERE window_seconds = 5 AND dimension = 'url' ORDER BY window_start, value LIMIT 1" \
	"UPDATE counts SET bytes = bytes - 1 WHERE window_seconds = 5 AND dimension = 'url' ORDER BY window_start, value LIMIT 1"
check "a larger maximum in one row makes it fail" tampered \
	"UPDATE counts SET duration_us_max = duration_us_max + 1 WHERE window_seconds = 5 AND dimension = 'status' ORDER BY duration_us_max DESC LIMIT 1" \
	"UPDATE counts SET duration_us_max = duration_us_max - 1 WHERE window_seconds = 5 AND dimension = 'status' ORDER BY duration_us_max DESC LIMIT 1"
check "a latency row moved to the next bucket makes it fail" tampered \
	"UPDATE latency SET bucket = bucket + 100 WHERE window_seconds = 5 AND dimension = 'hashtag' ORDER BY window_start, value, bucket LIMIT 1" \
	"UPDATE latency SET bucket = bucket - 100 WHERE bucket >= 100"

check "no sanitizer report in the aggregator's stderr" agg_sanitizer_clean
