#!/usr/bin/env bash
# aggregator_db.sh: the aggregator through outages of MariaDB and Kafka, on
# a private instance of the dev services (scripts/dev-services up in a
# folder of its own: the shared MariaDB is never touched), while an agent
# streams four growing files. Started while MariaDB is down, the aggregator
# waits and says so, /healthz answers 503, then it works once MariaDB is up.
# MariaDB killed -9 mid-stream for 5 s: the aggregator logs the outage
# once, answers 503, does not exit, logs that MariaDB is back and resumes.
# The broker down for 5 s mid-stream: it counts again once the broker is
# back. In the end the counts (bytes, durations and latency buckets too)
# equal an independent count of the lines.
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

OUTAGE=5                # seconds each service stays down
FILES=4
LINES=15000             # per file at most; 20 per file every 0.1 s
LOGS=$TAP_TMP/logs
DEV=$TAP_TMP/dev

# scripts/dev-services for the private instance.
dev() {
	LOGTALLY_DEV_DIR=$DEV LOGTALLY_DEVBROKER=$DEVBROKER \
		"$top_srcdir/scripts/dev-services" "$@" </dev/null
}

# Start MariaDB (and the broker, the first time); point agg_sql at it.
dev_up() {
	dev up >>"$TAP_TMP/dev.log" 2>&1 || return 1
	LOGTALLY_DB_PORT=$(cat "$DEV/mariadb.port")
}

cleanup_add "dev down"
dev_up || bail_out "the private dev services do not start: $(tail -n 20 "$TAP_TMP/dev.log")"
eval "$(dev env)"
TOPIC=$LOGTALLY_KAFKA_TOPIC
DB=$(agg_db db)
# Lines end in a request time: bytes, durations and latency buckets are
# checked against the oracle along with the hits.
export AGG_TIMES=1
agg_config "$TAP_TMP/agg.yml" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$DB" \
	"log_format: nginx_request_time"
agg_use_socket "$TAP_TMP/agg.yml" "$LOGTALLY_DB_SOCKET"
agg_fast_group "$TAP_TMP/agg.yml"
agent_config "$TAP_TMP/agent.yml" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$TAP_TMP/data" "$LOGS/*.log"

health() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT/healthz"
}

health_is() {
	[ "$(health)" = "$1" ]
}

# How many lines of the aggregator's log after line $1 match $2.
logged_since() {
	tail -n +"$(($1 + 1))" "$TAP_TMP/agg.err" | grep -c -- "$2"
}

# Whether the log has a line matching $1 since line $mark.
logged() {
	[ "$(logged_since "$mark" "$1")" -gt 0 ]
}

stored_sum() {
	agg_offsets "$DB" "$TOPIC" 4 | awk '{ s += $2 } END { print s + 0 }'
}

stored_past() {
	[ "$(stored_sum)" -gt "$1" ]
}

# The aggregator is still running.
alive() {
	kill -0 "$AGG" 2>/dev/null
}

# --- started while MariaDB is down --------------------------------------------
db=$(cat "$DEV/mariadb.pid")
kill -TERM "$db"
wait_until 60 eval "! kill -0 $db 2>/dev/null" || bail_out "mariadbd $db does not stop"
agg_writer "$LOGS" "$FILES" "$LINES" 20
agent_start agent "$TAP_TMP/agent.yml"
agent_pid=$AGENT_PID
agg_start agg "$TAP_TMP/agg.yml"
AGG=$AGG_PID
wait_until 30 grep -qs 'http: .* on port [0-9]' "$TAP_TMP/agg.err"
PORT=$(agg_http_port agg)
check "started while MariaDB is down, it waits for it and says so" \
	wait_until 20 grep -q 'MariaDB: .*waiting for it' "$TAP_TMP/agg.err"
check "/healthz answers 503 while it waits" health_is 503
sleep 2
check "it is still waiting, not exited" alive
dev_up || bail_out "MariaDB does not start again: $(tail -n 20 "$TAP_TMP/dev.log")"
working() {
	grep -q 'MariaDB is reachable' "$TAP_TMP/agg.err" &&
		grep -q 'partition [0-9]* assigned' "$TAP_TMP/agg.err" && stored_past 0
}
check "once MariaDB is up it connects, gets its partitions and counts" wait_until 30 working
check "/healthz answers 200 then" wait_until 10 health_is 200

# --- MariaDB killed mid-stream ------------------------------------------------
sleep 1
mark=$(wc -l <"$TAP_TMP/agg.err")
kill -KILL "$(cat "$DEV/mariadb.pid")"
down_at=$SECONDS
check "MariaDB killed -9 mid-stream: the aggregator logs it unavailable" \
	wait_until "$OUTAGE" logged 'MariaDB unavailable'
check "/healthz answers 503 during the outage" health_is 503
while [ $((SECONDS - down_at)) -lt "$OUTAGE" ]; do
	sleep 0.2
done
check "it has not exited" alive
dev_up || bail_out "MariaDB does not start again: $(tail -n 20 "$TAP_TMP/dev.log")"
up_at=$SECONDS
check "it logs that MariaDB is back" \
	wait_until 30 logged 'MariaDB is back'
diag "back $((SECONDS - up_at)) s after MariaDB's restart: $(grep 'MariaDB' "$TAP_TMP/agg.err" | tail -n 3)"
check "/healthz answers 200 again" wait_until 10 health_is 200
before=$(stored_sum)
check "it counts again" wait_until 20 stored_past "$before"
unavailable=$(logged_since "$mark" 'MariaDB unavailable')
back=$(logged_since "$mark" 'MariaDB is back')
if [ "$unavailable:$back" = 1:1 ]; then
	ok "the outage is logged once as it starts and once as it ends"
else
	not_ok "the outage is logged once as it starts and once as it ends" \
	       "$unavailable starts, $back ends: $(tail -n +"$((mark + 1))" "$TAP_TMP/agg.err" | grep MariaDB | head -n 10)"
fi

# --- the broker down mid-stream ---------------------------------------------
sleep 1
"$DEVBROKER" --control "$LOGTALLY_DEVBROKER_CONTROL" --send "down 1" >/dev/null ||
	bail_out "cannot take the private broker down"
sleep "$OUTAGE"
check "the broker down for $OUTAGE s: the aggregator has not exited" alive
"$DEVBROKER" --control "$LOGTALLY_DEVBROKER_CONTROL" --send "up all" >/dev/null ||
	bail_out "cannot bring the private broker up"
before=$(stored_sum)
check "with the broker back it counts again" wait_until 30 stored_past "$before"

# --- the end ------------------------------------------------------------------
agg_writer_stop "$LOGS"
agent_stop "$agent_pid"
rc=$?
agent_once agent2 "$TAP_TMP/agent.yml"
check "the agent stops (status $rc) and --once ships the rest (status $AGENT_RC)" \
	test "$rc:$AGENT_RC" = 0:0
lines=$(cat "$LOGS"/*.log | wc -l)
start=$SECONDS
if wait_until 60 agg_caught_up "$DB" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC"; then
	ok "the aggregator counts up to the topic's end (in $((SECONDS - start)) s)"
else
	not_ok "the aggregator counts up to the topic's end" \
	       "high watermarks: $(agg_watermarks "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" | tr '\n' ,)
stored: $(agg_offsets "$DB" "$TOPIC" 4 | tr '\n' ,)
$(tail -n 5 "$TAP_TMP/agg.err")"
fi
agg_stop "$AGG"
check "it stops with status 0" test "$?" = 0
exact() {
	agg_exact "$DB" 5 "$LOGS"/*.log && agg_exact "$DB" 3600 "$LOGS"/*.log
}
check "url, status and hashtag counts, bytes, durations and latency buckets equal the oracle over $lines lines, in 5 s windows and 1 h rollups" exact
check "no sanitizer report in the programs' stderr" agg_sanitizer_clean
