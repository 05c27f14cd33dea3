#!/usr/bin/env bash
# aggregator_input.sh: bad input never stops the pipeline. Garbage messages
# (binary, truncated or incomplete JSON, invalid UTF-8, empty and null
# values) beside good lines in the same partitions: the good ones count
# exactly, each bad one once in bad_messages_total, lines not of the format
# in parse_errors_total. Late lines count in their own old windows and in
# late_events_total. Past max_values a window stores (other), and the
# overflow is a metric. Messages an agent sends again (same key, same
# log.offset) are skipped and counted, whether their source's high mark
# comes from MariaDB or from memory. Streaming aggregators, read through
# /metrics, stopped with SIGTERM.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"
# shellcheck source=aggregator_lib.sh
. "$(dirname "$0")/aggregator_lib.sh"

plan 19
agent_require
agg_require

BROKERS=$LOGTALLY_KAFKA_BROKERS
started=$SECONDS

stored_is() {   # DB TOPIC N
	[ "$(agg_stored "$1" "$2")" = "$3" ]
}

# A group of its own for each run: the dev broker makes a member that joins
# right after another left the group wait out the session timeout.
regroup() {   # CONFIG NAME
	sed -i "s/^  group: .*/  group: $2-$$-$RANDOM/" "$1"
}

# Start aggregator NAME on CONFIG and wait for its /metrics port (PORT).
start() {
	agg_start "$1" "$2"
	PORT=$(agg_wait_port "$1") || bail_out "aggregator $1 logged no port: $(tail -n 20 "$TAP_TMP/$1.err")"
}

# Metric NAME of the running aggregator, 0 when it has none yet.
metric() {
	local v
	v=$(agg_metric "$PORT" "$1")
	echo "${v:-0}"
}

stop_ok() {   # DESCRIPTION NAME
	local rc
	agg_stop "$AGG_PID"
	rc=$?
	if [ "$rc" = 0 ]; then
		ok "$1"
	else
		not_ok "$1" "status $rc: $(tail -n 20 "$TAP_TMP/$2.err")"
	fi
}

# Produce lines "KEY TAB VALUE" of file $3 to partition $2 of topic $1.
produce_keyed() {
	timeout 60 kcat -b "$BROKERS" -P -t "$1" -p "$2" -K $'\t' "${@:4}" -l "$3"
}

# --- garbage beside good lines ------------------------------------------------

TOPIC=$(agent_topic agg-garbage)
DB=$(agg_db garbage)
LOGS=$TAP_TMP/logs
G=$TAP_TMP/garbage
mkdir -p "$LOGS" "$G"
now=$(date +%s)
agg_gen 1500 11 $((now - 3000)) >"$LOGS/a.log"
agg_gen 1000 12 $((now - 2900)) >"$LOGS/b.log"
# Bad: not the agent's JSON, not a bare line. One message per file.
printf 'bin\000\001\002\377\376\200 binary\000' >"$G/bad-binary"
printf '{"message":"192.0.2.1 - - [24/Nov/2026:20:26:22 +0000] \\"GET /trunc' >"$G/bad-truncated"
printf '{"log":{"offset":7,"file":{"path":"/x"}},"host":{"name":"h"}}' >"$G/bad-no-message"
printf '{"message":42}' >"$G/bad-number"
printf '192.0.2.9 - - [24/Nov/2026:20:26:22 +0000] "GET /bad\377\376 HTTP/1.1" 200 1 "-" "-"' >"$G/bad-utf8-bare"
printf '{"message":"caf\351"}' >"$G/bad-utf8-json"
printf '{"message":"x"} and more' >"$G/bad-trailing"
printf '{"message":"a\\ud800b"}' >"$G/bad-surrogate"
printf 'two\nlines' >"$G/bad-newline"
# Decoded, but not of the format: parse errors. A JSON array is not the
# agent's envelope, so it reads as a bare line (message.h).
printf '["192.0.2.1 - - [24/Nov/2026:20:26:22 +0000] \\"GET / HTTP/1.1\\" 200 1"]' >"$G/unparsed-array"
printf 'hello, not an access log line' >"$G/unparsed-bare"
printf '{"message":"not an access log line either"}' >"$G/unparsed-json"
printf '{"message":""}' >"$G/unparsed-empty"
printf 'k\t\n' >"$G/empty.keyed"                # an empty value (produced with -K)
bad_each=$(( $(find "$G" -name 'bad-*' | wc -l) + 2 ))   # + empty and null values
unparsed_each=$(find "$G" -name 'unparsed-*' | wc -l)

agent_config "$TAP_TMP/agent.yml" "$BROKERS" "$TOPIC" "$TAP_TMP/data" "$LOGS/*.log"
agg_config "$TAP_TMP/agg.yml" "$BROKERS" "$TOPIC" "$DB"
agent_once ship1 "$TAP_TMP/agent.yml"
shipped=$AGENT_RC
# Into every partition: good bare lines, the garbage, good bare lines again.
produced=0
for p in 0 1 2 3; do
	agg_gen 100 $((20 + p)) $((now - 2000 + 300 * p)) >"$TAP_TMP/bare-$p-1.log"
	agg_gen 100 $((30 + p)) $((now - 1000 + 300 * p)) >"$TAP_TMP/bare-$p-2.log"
	timeout 60 kcat -b "$BROKERS" -P -t "$TOPIC" -p "$p" -l "$TAP_TMP/bare-$p-1.log" &&
		timeout 60 kcat -b "$BROKERS" -P -t "$TOPIC" -p "$p" "$G"/bad-* "$G"/unparsed-* &&
		produce_keyed "$TOPIC" "$p" "$G/empty.keyed" &&
		produce_keyed "$TOPIC" "$p" "$G/empty.keyed" -Z &&
		timeout 60 kcat -b "$BROKERS" -P -t "$TOPIC" -p "$p" -l "$TAP_TMP/bare-$p-2.log" ||
		produced=1
done
# And enveloped lines after the garbage.
agg_gen 300 13 $((now - 500)) >>"$LOGS/a.log"
agent_once ship2 "$TAP_TMP/agent.yml"
good=$((2500 + 800 + 300))
total=$((good + 4 * (bad_each + unparsed_each)))
if [ "$shipped" = 0 ] && [ "$AGENT_RC" = 0 ] && [ "$produced" = 0 ]; then
	ok "2800 enveloped and 800 bare good lines, $((4 * bad_each)) bad and $((4 * unparsed_each)) unparsable messages produced in 4 partitions"
else
	not_ok "good lines and garbage produced" "agent $shipped/$AGENT_RC, kcat $produced"
fi

start garbage "$TAP_TMP/agg.yml"
if wait_until 60 stored_is "$DB" "$TOPIC" "$total"; then
	ok "the aggregator goes past every message: $total offsets stored"
else
	not_ok "the aggregator goes past every message: $total offsets stored" \
	       "stored $(agg_stored "$DB" "$TOPIC"): $(tail -n 20 "$TAP_TMP/garbage.err")"
fi
cat "$LOGS"/*.log "$TAP_TMP"/bare-*.log >"$TAP_TMP/good.log"
if diffs=$(agg_exact "$DB" 5 "$TAP_TMP/good.log"); then
	ok "url, status and hashtag of the $good good lines equal the oracle's"
else
	not_ok "url, status and hashtag of the $good good lines equal the oracle's" "$diffs"
fi
want="$total $((4 * bad_each)) $((4 * unparsed_each)) $good"
got="$(metric logtally_aggregator_messages_total) $(metric logtally_aggregator_bad_messages_total)"
got="$got $(metric logtally_aggregator_parse_errors_total) $(metric logtally_aggregator_events_total)"
if [ "$got" = "$want" ]; then
	ok "messages, bad_messages, parse_errors, events: $got"
else
	not_ok "messages, bad_messages, parse_errors, events: $want" "got $got"
fi
skipped=$(grep -c 'skipping message' "$TAP_TMP/garbage.err")
if [ "$skipped" -ge 1 ] && [ "$skipped" -le 20 ]; then
	ok "bad messages are logged with rate limiting ($skipped lines for $((4 * bad_each)))"
else
	not_ok "bad messages are logged with rate limiting" "$skipped 'skipping message' lines"
fi
stop_ok "after the garbage the aggregator stops on SIGTERM with status 0" garbage

# --- late lines -------------------------------------------------------------

TOPIC_L=$(agent_topic agg-late)
DB_L=$(agg_db late)
# In one partition, in this order: 50 lines from t0 on, 20 lines 10 minutes
# older than the newest, 5 lines 30 s older (within lateness: not late), 10
# lines on time.
t0=$(( (now - 900) / 60 * 60 ))
{
	agg_gen 50 41 "$t0"
	agg_gen 20 42 $((t0 + 49 - 600 - 19))
	agg_gen 5 43 $((t0 + 49 - 30))
	agg_gen 10 44 $((t0 + 50))
} >"$TAP_TMP/late.log"
agg_config "$TAP_TMP/agg-l.yml" "$BROKERS" "$TOPIC_L" "$DB_L" "lateness: 1m"
timeout 60 kcat -b "$BROKERS" -P -t "$TOPIC_L" -p 0 -l "$TAP_TMP/late.log" ||
	bail_out "cannot produce to $TOPIC_L"
start late "$TAP_TMP/agg-l.yml"
wait_until 60 stored_is "$DB_L" "$TOPIC_L" 85
agg_expect_windows 5 "$TAP_TMP/late.log" >"$TAP_TMP/want.late"
agg_windows "$DB_L" status 5 >"$TAP_TMP/got.late"
old=$(agg_sql "$DB_L" "SELECT COALESCE(SUM(hits), 0) FROM counts WHERE dimension = 'status'
	AND window_seconds = 5 AND window_start < TIMESTAMPADD(SECOND, $((t0 - 500)), '1970-01-01')")
if diff "$TAP_TMP/want.late" "$TAP_TMP/got.late" >"$TAP_TMP/diff" && [ "$old" = 20 ]; then
	ok "lines 10 minutes late count in their own old windows (window_start of each line's time)"
else
	not_ok "lines 10 minutes late count in their own old windows" \
	       "$old hits in the old windows; $(head -n 20 "$TAP_TMP/diff")"
fi
check "late_events_total counts the 20 lines older than lateness behind the newest, not those within it" \
	test "$(metric logtally_aggregator_late_events_total)" = 20
stop_ok "that aggregator stops on SIGTERM with status 0" late

# --- max_values ---------------------------------------------------------------

TOPIC_M=$(agent_topic agg-cap)
DB_M=$(agg_db cap)
# Window 1: 10 urls, /u1 once ... /u10 ten times, in rounds (/u1../u10, then
# /u2../u10, ...), so /u1, /u2, /u3 come first. Window 2, a minute later: 2
# urls, under the cap.
tm=$(( (now - 600) / 60 * 60 ))
perl -e '
	my ($t1, $t2) = @ARGV;
	my @mon = qw(Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec);
	sub line {
		my ($t, $path) = @_;
		my @g = gmtime($t);
		printf("192.0.2.1 - - [%02d/%s/%04d:%02d:%02d:%02d +0000] \"GET %s HTTP/1.1\" 200 1 \"-\" \"t\"\n",
		       $g[3], $mon[$g[4]], $g[5] + 1900, $g[2], $g[1], $g[0], $path);
	}
	for my $round (1 .. 10) {
		line($t1, "/u$_") for $round .. 10;
	}
	line($t2, "/v1") for 1 .. 4;
	line($t2, "/v2") for 1 .. 3;
' "$((tm + 1))" "$((tm + 61))" >"$TAP_TMP/cap.log"
agg_config "$TAP_TMP/agg-m.yml" "$BROKERS" "$TOPIC_M" "$DB_M" "max_values: 3"
timeout 60 kcat -b "$BROKERS" -P -t "$TOPIC_M" -p 0 -l "$TAP_TMP/cap.log" ||
	bail_out "cannot produce to $TOPIC_M"
start cap "$TAP_TMP/agg-m.yml"
wait_until 60 stored_is "$DB_M" "$TOPIC_M" 62
got=$(agg_sql "$DB_M" "SELECT TIMESTAMPDIFF(SECOND, '1970-01-01', window_start) - $tm, value, hits
	FROM counts WHERE dimension = 'url' AND window_seconds = 5 ORDER BY 1, 2")
want="0	(other)	49
0	/u1	1
0	/u2	2
0	/u3	3
60	/v1	4
60	/v2	3"
if [ "$got" = "$want" ]; then
	ok "max_values 3: a window of 10 urls stores the first 3 and (other), hits adding up to 55; one of 2 urls stores both"
else
	not_ok "max_values 3: a window of 10 urls stores the first 3 and (other)" "got:
$got"
fi
other=$(metric 'logtally_aggregator_other_values_total{dimension="url"}')
other_status=$(metric 'logtally_aggregator_other_values_total{dimension="status"}')
if [ "$other" = 49 ] && [ "$other_status" = 0 ]; then
	ok "other_values_total{dimension=\"url\"} is the overflow (49), 0 for status"
else
	not_ok "other_values_total{dimension=\"url\"} is the overflow (49), 0 for status" \
	       "url $other, status $other_status"
fi
rollup_ok() {
	local size rows hits
	for size in 60 3600; do
		read -r rows hits < <(agg_sql "$DB_M" "SELECT COUNT(*), SUM(hits) FROM counts
			WHERE dimension = 'url' AND window_seconds = $size")
		if [ "$hits" != 62 ] || [ "$rows" -gt 6 ]; then
			echo "size $size: $rows rows, $hits hits"
			return 1
		fi
	done
}
check "the rollups hold the same 62 hits in at most 3 values and (other) per window" rollup_ok
stop_ok "that aggregator stops on SIGTERM with status 0" cap

# --- duplicates: the same key and log.offset sent again -----------------------

TOPIC_D=$(agent_topic agg-dup)
DB_D=$(agg_db dup)
DLOGS=$TAP_TMP/dlogs
mkdir -p "$DLOGS"
agg_gen 1200 51 $((now - 4000)) >"$DLOGS/a.log"
agg_gen 800 52 $((now - 3500)) >"$DLOGS/b.log"
agent_config "$TAP_TMP/agent-d.yml" "$BROKERS" "$TOPIC_D" "$TAP_TMP/data-d" "$DLOGS/*.log"
agg_config "$TAP_TMP/agg-d.yml" "$BROKERS" "$TOPIC_D" "$DB_D"
agent_once ship-d1 "$TAP_TMP/agent-d.yml"
shipped=$AGENT_RC
agg_once dup1 "$TAP_TMP/agg-d.yml"
if [ "$shipped" = 0 ] && [ "$AGG_RC" = 0 ] && diffs=$(agg_exact "$DB_D" 5 "$DLOGS"/*.log); then
	ok "2000 enveloped lines counted exactly by --once"
else
	not_ok "2000 enveloped lines counted exactly by --once" \
	       "agent $shipped, aggregator $AGG_RC: ${diffs:-} $(tail -n 5 "$TAP_TMP/dup1.err")"
fi

# What an agent restarted from an old registry sends: the last 150 lines of
# each file again, as captured (key, value), to the same partition; and 40
# lines from the middle. Then new lines.
timeout 60 kcat -b "$BROKERS" -C -t "$TOPIC_D" -o beginning -e -q -f '%p\t%k\t%s\n' >"$TAP_TMP/captured"
resend() {   # FILE: PARTITION TAB KEY TAB VALUE lines
	local p rc=0
	while read -r p; do
		awk -F'\t' -v p="$p" '$1 == p' "$1" | cut -f 2- >"$1.$p"
		produce_keyed "$TOPIC_D" "$p" "$1.$p" </dev/null || rc=1
	done < <(cut -f 1 "$1" | sort -u)
	return "$rc"
}
{
	awk -F'\t' '{ n[$2]++; line[$2, n[$2]] = $0 }
		    END { for (k in n) for (i = n[k] - 149; i <= n[k]; i++) print line[k, i] }' "$TAP_TMP/captured"
	awk 'NR % 50 == 7' "$TAP_TMP/captured"
} >"$TAP_TMP/resend1"
resend "$TAP_TMP/resend1"
produced=$?
agg_gen 250 53 $((now - 200)) >>"$DLOGS/b.log"
agent_once ship-d2 "$TAP_TMP/agent-d.yml"
n1=$(wc -l <"$TAP_TMP/resend1")
regroup "$TAP_TMP/agg-d.yml" dup2
start dup2 "$TAP_TMP/agg-d.yml"
if [ "$produced" = 0 ] && [ "$AGENT_RC" = 0 ] && [ "$n1" = 340 ] &&
   wait_until 60 stored_is "$DB_D" "$TOPIC_D" $((2000 + n1 + 250)) &&
   diffs=$(agg_exact "$DB_D" 5 "$DLOGS"/*.log); then
	ok "$n1 resent messages and 250 new lines: counts still equal the oracle's"
else
	not_ok "$n1 resent messages and 250 new lines: counts still equal the oracle's" \
	       "kcat $produced, agent $AGENT_RC, stored $(agg_stored "$DB_D" "$TOPIC_D"): ${diffs:-}"
fi
got="$(metric logtally_aggregator_duplicates_total) $(metric logtally_aggregator_events_total)"
if [ "$got" = "$n1 250" ]; then
	ok "duplicates_total counts the $n1 resends (high marks read from MariaDB), events_total the 250 new lines"
else
	not_ok "duplicates_total counts the $n1 resends, events_total the 250 new lines" "got $got"
fi

# Resent while this aggregator runs: the high marks are its own, in memory.
awk 'NR % 40 == 3' "$TAP_TMP/captured" >"$TAP_TMP/resend2"
n2=$(wc -l <"$TAP_TMP/resend2")
resend "$TAP_TMP/resend2"
if wait_until 60 stored_is "$DB_D" "$TOPIC_D" $((2000 + n1 + 250 + n2)) &&
   [ "$(metric logtally_aggregator_duplicates_total)" = $((n1 + n2)) ] &&
   diffs=$(agg_exact "$DB_D" 5 "$DLOGS"/*.log); then
	ok "$n2 more resent to the running aggregator: skipped and counted, counts unchanged"
else
	not_ok "$n2 more resent to the running aggregator: skipped and counted, counts unchanged" \
	       "stored $(agg_stored "$DB_D" "$TOPIC_D"), duplicates $(metric logtally_aggregator_duplicates_total): ${diffs:-}"
fi
stop_ok "that aggregator stops on SIGTERM with status 0" dup2

check "no sanitizer report in the aggregator's stderr" agg_sanitizer_clean
diag "aggregator_input.sh took $((SECONDS - started)) s"
