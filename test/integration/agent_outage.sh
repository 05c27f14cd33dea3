#!/usr/bin/env bash
# agent_outage.sh: Kafka down, on a private broker of 16 partitions. While
# it is down for 10 s, 50 MB of lines arrive in 16 files: the agent stops
# reading at max_buffer, says so once in its log and on /metrics and
# /healthz, says once when Kafka is back, then ships every line exactly
# once with its peak RSS under 64 MB. --once with Kafka down exits 1 after
# shutdown_timeout, its registry moved by nothing unacknowledged, whether
# it could read every line or stopped at max_buffer; a second
# SIGTERM stops an agent waiting for acknowledgements at once, state intact.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"

plan 18
agent_require

FILES=16
LINES=16400             # per file: 16 x 16400 lines of 200 bytes = 52 MB
OUTAGE=10               # seconds
RSS_MAX_KB=65536
LOGS=$TAP_TMP/logs
mkdir -p "$LOGS"
agent_broker "big:16"

# Lines $2..$3 of file number $1, about 200 bytes each.
write_file() {
	awk -v f="$1" -v a="$2" -v b="$3" 'BEGIN {
		for (i = a; i <= b; i++)
			printf "f%02d %06d 10.%d.%d.%d - - [24/Nov/2026:20:26:22 +0000] \"GET /outage/%d/%x?q=%d HTTP/1.1\" 200 %5d \"https://example.com/ref/%d\" \"Mozilla/5.0 (X11; Linux x86_64) test/%d\" upstream=10.9.8.7:8080\n",
				f, i, f, i % 251, i % 241, i, i * 2654435761 % 4294967296, i % 97, i % 65536, i % 1013, i % 89
	}' >>"$LOGS/access-$1.log"
}

health_code() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT/healthz"
}

metric_is() {
	[ "$(agent_metric "$PORT" "$1")" = "$2" ]
}

# The agent's counter $1 reached $2.
counter_at_least() {
	local n
	n=$(agent_metric "$PORT" "$1")
	[ -n "$n" ] && [ "${n%.*}" -ge "$2" ]
}

for ((f = 0; f < FILES; f++)); do
	write_file "$f" 1 1
done
agent_config "$TAP_TMP/agent.yml" "$BROKER_BOOT" big "$TAP_TMP/data" "$LOGS/*.log" \
	"http: {listen: '127.0.0.1:0'}"
agent_start stream "$TAP_TMP/agent.yml"
PID=$AGENT_PID
PORT=$(agent_http_port stream)
wait_until 30 counter_at_least logtally_agent_lines_acked_total "$FILES" ||
	bail_out "the agent did not ship its first lines: $(tail -n 5 "$TAP_TMP/stream.err")"
check "/healthz answers 200 while Kafka is up" test "$(health_code)" = 200

agent_broker_send "down all"
down_at=$SECONDS
# 50 MB arrive during the outage, in ten waves.
for ((wave = 0; wave < 10; wave++)); do
	for ((f = 0; f < FILES; f++)); do
		write_file "$f" $((2 + wave * (LINES - 1) / 10)) $((1 + (wave + 1) * (LINES - 1) / 10))
	done
	sleep 0.5
done
bytes=$(cat "$LOGS"/*.log | wc -c)
diag "$bytes bytes written in $((SECONDS - down_at)) s of outage"
wait_until "$OUTAGE" metric_is logtally_agent_kafka_outage 1
check "the outage shows on /metrics (logtally_agent_kafka_outage 1)" metric_is logtally_agent_kafka_outage 1
check "/healthz answers 503 during the outage" test "$(health_code)" = 503
read=$(agent_metric "$PORT" logtally_agent_lines_read_total)
queued=$(agent_metric "$PORT" logtally_agent_queue_bytes)
if [ "${read%.*}" -lt $((FILES * LINES / 2)) ]; then
	ok "reading stops at max_buffer while Kafka is down (${read%.*} of $((FILES * LINES)) lines read)"
else
	not_ok "reading stops at max_buffer while Kafka is down" "$read lines read, $queued bytes queued"
fi
while [ $((SECONDS - down_at)) -lt "$OUTAGE" ]; do
	sleep 0.2
done
agent_broker_send "up all"

start=$SECONDS
if wait_until 120 counter_at_least logtally_agent_lines_acked_total $((FILES * LINES)); then
	ok "after the outage every line is acknowledged (in $((SECONDS - start)) s)"
else
	not_ok "after the outage every line is acknowledged" \
	       "$(agent_metric "$PORT" logtally_agent_lines_acked_total) acked; $(tail -n 5 "$TAP_TMP/stream.err")"
fi
healthy() {
	metric_is logtally_agent_kafka_outage 0 && [ "$(health_code)" = 200 ]
}
check "the outage's end shows on /metrics, and /healthz is 200 again" wait_until 10 healthy
hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$PID/status")
if agent_sanitized || [ -n "${AGENT_WRAPPER:-}" ]; then
	ok "peak RSS under 64 MB # SKIP ASan or AGENT_WRAPPER inflates it (measured ${hwm} kB)"
elif [ -n "$hwm" ] && [ "$hwm" -lt "$RSS_MAX_KB" ]; then
	ok "peak RSS under 64 MB (VmHWM ${hwm} kB)"
else
	not_ok "peak RSS under 64 MB" "VmHWM ${hwm} kB"
fi
agent_stop "$PID"
check "SIGTERM exits 0" test "$?" = 0

starts=$(grep -c 'Kafka unreachable' "$TAP_TMP/stream.err")
ends=$(grep -c 'Kafka reachable again' "$TAP_TMP/stream.err")
if [ "$starts:$ends" = 1:1 ]; then
	ok "the outage is logged once when it starts and once when it ends"
else
	not_ok "the outage is logged once when it starts and once when it ends" \
	       "$starts starts, $ends ends: $(grep -i 'kafka' "$TAP_TMP/stream.err" | head -n 10)"
fi

# Every line exactly once: "FILE NUMBER" of each message against the files.
timeout 120 kcat -b "$BROKER_BOOT" -C -t big -o beginning -e -q -f '%s\n' |
	sed -n 's/.*"message":"\(f[0-9]* [0-9]*\) .*/\1/p' | sort >"$TAP_TMP/got"
if cmp -s <(cut -d ' ' -f 1,2 "$LOGS"/*.log | sort) "$TAP_TMP/got"; then
	ok "every one of the $((FILES * LINES)) lines ($bytes bytes) arrived exactly once"
else
	not_ok "every one of the $((FILES * LINES)) lines arrived exactly once" \
	       "$(wc -l <"$TAP_TMP/got") messages; $(diff <(cut -d ' ' -f 1,2 "$LOGS"/*.log | sort) "$TAP_TMP/got" | head -n 10)"
fi

# --- --once with Kafka down ----------------------------------------------
agent_broker_send "topic once 4"
mkdir -p "$TAP_TMP/once"
for ((i = 1; i <= 1000; i++)); do echo "once line $i"; done >"$TAP_TMP/once/a.log"
agent_config "$TAP_TMP/once.yml" "$BROKER_BOOT" once "$TAP_TMP/once-data" "$TAP_TMP/once/*.log" \
	"shutdown_timeout: 2s" "max_buffer: 1MiB"
agent_once once1 "$TAP_TMP/once.yml"
size=$(stat -c %s "$TAP_TMP/once/a.log")
reg_offset() {
	jq -r '.entries[0].offset' "$TAP_TMP/once-data/registry.json"
}
check "--once ships a file while Kafka is up" test "$AGENT_RC:$(reg_offset)" = "0:$size"

agent_broker_send "down all"
for ((i = 1001; i <= 1500; i++)); do echo "once line $i"; done >>"$TAP_TMP/once/a.log"
start=$SECONDS
agent_once once2 "$TAP_TMP/once.yml"
took=$((SECONDS - start))
if [ "$AGENT_RC" = 1 ] && [ "$took" -le 15 ] && grep -q 'shutdown_timeout' "$TAP_TMP/once2.err"; then
	ok "--once with Kafka down exits 1 after shutdown_timeout (in $took s), saying why"
else
	not_ok "--once with Kafka down exits 1 after shutdown_timeout" \
	       "status $AGENT_RC after $took s: $(tail -n 5 "$TAP_TMP/once2.err")"
fi
check "its registry holds only what was acknowledged (the old end, $size)" test "$(reg_offset)" = "$size"

# More than max_buffer to send: reading stops before the last line, which
# must not make --once wait for Kafka for ever.
awk 'BEGIN { for (i = 1501; i <= 21500; i++) printf "once line %d padding to make the buffer fill up sooner\n", i }' \
	>>"$TAP_TMP/once/a.log"
start=$SECONDS
AGENT_TIMEOUT=30 agent_once once2b "$TAP_TMP/once.yml"
took=$((SECONDS - start))
if [ "$AGENT_RC" = 1 ] && [ "$took" -le 15 ] && grep -q 'shutdown_timeout' "$TAP_TMP/once2b.err"; then
	ok "--once with Kafka down and more than max_buffer to send exits 1 too (in $took s)"
else
	not_ok "--once with Kafka down and more than max_buffer to send exits 1 too" \
	       "status $AGENT_RC after $took s (124: killed by timeout): $(tail -n 3 "$TAP_TMP/once2b.err")"
fi
check "its registry still holds only what was acknowledged" test "$(reg_offset)" = "$size"

# --- a second signal while waiting for acknowledgements ----------------------
agent_config "$TAP_TMP/once.yml" "$BROKER_BOOT" once "$TAP_TMP/once-data" "$TAP_TMP/once/*.log" \
	"shutdown_timeout: 60s" "max_buffer: 1MiB"
agent_start waiting "$TAP_TMP/once.yml"
pid=$AGENT_PID
wait_until 30 grep -qs 'known file' "$TAP_TMP/waiting.err"
kill -TERM "$pid"
sleep 1
if kill -0 "$pid" 2>/dev/null; then
	kill -TERM "$pid"
	start=$SECONDS
	wait_until 5 eval "! kill -0 $pid 2>/dev/null"
	wait "$pid"
	rc=$?
	if [ "$rc" -le 1 ] && [ $((SECONDS - start)) -le 3 ] && [ "$(reg_offset)" = "$size" ]; then
		ok "a second SIGTERM stops at once (status $rc), the registry intact"
	else
		not_ok "a second SIGTERM stops at once, the registry intact" \
		       "status $rc after $((SECONDS - start)) s; registry $(reg_offset)"
	fi
else
	not_ok "a second SIGTERM stops at once, the registry intact" \
	       "the first SIGTERM did not wait for acknowledgements: $(tail -n 5 "$TAP_TMP/waiting.err")"
fi

agent_broker_send "up all"
agent_once once3 "$TAP_TMP/once.yml"
got=$(timeout 60 kcat -b "$BROKER_BOOT" -C -t once -o beginning -e -q -f '%s\n' | jq -r .message | sort -V)
if [ "$AGENT_RC" = 0 ] && [ "$got" = "$(sort -V "$TAP_TMP/once/a.log")" ]; then
	ok "with Kafka back, --once ships the rest: each of the 21500 lines once"
else
	not_ok "with Kafka back, --once ships the rest: each of the 21500 lines once" \
	       "status $AGENT_RC; $(wc -l <<<"$got") messages"
fi

check "no sanitizer report in the agents' stderr" agent_sanitizer_clean
