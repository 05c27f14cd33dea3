#!/usr/bin/env bash
# aggregator_crash.sh: kill -9 the aggregator at random moments, five times,
# while an agent streams six growing files into an 8-partition topic, and
# kill -9 the agent once as well (it sends again what its registry had not
# recorded: duplicates in Kafka). Each new aggregator starts from the
# offsets and source high marks in MariaDB. When the writer stops and the
# last aggregator has counted up to the topic's end, the counts of url,
# status and hashtag, in the base window and both rollups, and their bytes,
# durations and latency buckets, equal an independent count of the lines
# written: no more, no less.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"
# shellcheck source=aggregator_lib.sh
. "$(dirname "$0")/aggregator_lib.sh"

plan 10
agent_require
agg_require

KILLS=5
AGENT_KILL_AT=3         # the agent is killed along with this aggregator
FILES=6
LINES=10000             # per file at most; 20 per file every 0.1 s
CHUNK=20
LOGS=$TAP_TMP/logs
TOPIC=$(agent_topic agg-crash 8)
DB=$(agg_db crash)
# agg_db's own cleanup_add ran in the $(...) subshell: register it here.
cleanup_add "agg_mariadb -e 'DROP DATABASE IF EXISTS $DB'"
agent_config "$TAP_TMP/agent.yml" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$TAP_TMP/data" \
	"$LOGS/*.log" "registry_flush: 3s"
# Lines end in a request time: bytes, durations and latency buckets are
# checked against the oracle along with the hits.
export AGG_TIMES=1
agg_config "$TAP_TMP/agg.yml" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$DB" \
	"log_format: nginx_request_time"
agg_fast_group "$TAP_TMP/agg.yml"

# The sum of the offsets stored so far (what the killed runs committed).
stored_sum() {
	agg_offsets "$DB" "$TOPIC" 8 | awk '{ s += $2 } END { print s + 0 }'
}

agg_writer "$LOGS" "$FILES" "$LINES" "$CHUNK"
agent_start agent1 "$TAP_TMP/agent.yml"
agent_pid=$AGENT_PID

assigned=0
agent_killed=no
: >"$TAP_TMP/kills"
for ((k = 1; k <= KILLS; k++)); do
	agg_start "run$k" "$TAP_TMP/agg.yml"
	if wait_until 60 grep -qs 'partition [0-9]* assigned' "$TAP_TMP/run$k.err" &&
	   kill -0 "$AGG_PID" 2>/dev/null; then
		assigned=$((assigned + 1))
	fi
	pause_ms=$((200 + RANDOM % 2300))
	sleep "$((pause_ms / 1000)).$(printf '%03d' $((pause_ms % 1000)))"
	kill -KILL "$AGG_PID"
	wait "$AGG_PID" 2>/dev/null
	echo "run $k killed ${pause_ms} ms after its assignment; offsets stored: $(stored_sum)" \
		>>"$TAP_TMP/kills"
	if [ "$k" = "$AGENT_KILL_AT" ]; then
		kill -KILL "$agent_pid"
		wait "$agent_pid" 2>/dev/null
		agent_start agent2 "$TAP_TMP/agent.yml"
		agent_pid=$AGENT_PID
		agent_killed=yes
	fi
done
diag "$(cat "$TAP_TMP/kills")"
check "each of the $KILLS aggregators got its partitions and was running when killed ($assigned)" \
	test "$assigned" = "$KILLS"
check "the agent was killed -9 and restarted mid-stream too" test "$agent_killed" = yes

agg_start final "$TAP_TMP/agg.yml"
final=$AGG_PID
sleep 1
agg_writer_stop "$LOGS"
agent_stop "$agent_pid"
rc=$?
agent_once agent3 "$TAP_TMP/agent.yml"
check "the agent stops (status $rc) and --once ships the rest (status $AGENT_RC)" \
	test "$rc:$AGENT_RC" = 0:0

lines=$(cat "$LOGS"/*.log | wc -l)
messages=$(agg_watermarks "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" | awk '{ s += $2 } END { print s + 0 }')
if [ "$messages" -gt "$lines" ]; then
	ok "Kafka holds the agent's resends: $messages messages for $lines lines"
else
	not_ok "Kafka holds the agent's resends" "$messages messages for $lines lines"
fi

start=$SECONDS
if wait_until 60 agg_caught_up "$DB" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC"; then
	ok "the last aggregator counts up to the topic's end (in $((SECONDS - start)) s)"
else
	not_ok "the last aggregator counts up to the topic's end" \
	       "high watermarks: $(agg_watermarks "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" | tr '\n' ,)
stored: $(agg_offsets "$DB" "$TOPIC" 8 | tr '\n' ,)
$(tail -n 5 "$TAP_TMP/final.err")"
fi
agg_stop "$final"
check "it stops with status 0 on SIGTERM" test "$?" = 0

check "url, status and hashtag counts, bytes, durations and latency buckets equal the oracle over $lines lines, through $KILLS kill -9" \
	agg_exact "$DB" 5 "$LOGS"/*.log
check "the 1-minute rollup is exact too" agg_exact "$DB" 60 "$LOGS"/*.log
check "the 1-hour rollup is exact too" agg_exact "$DB" 3600 "$LOGS"/*.log
aged=$(grep -h 'aged out' "$TAP_TMP"/run*.err "$TAP_TMP"/final.err)
if [ -n "$aged" ]; then
	diag "lines aged out of Kafka (the test wrote too fast for the dev broker): $aged"
fi
check "no sanitizer report in the programs' stderr" agg_sanitizer_clean
