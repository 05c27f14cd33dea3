#!/usr/bin/env bash
# agent_registry.sh: the registry is the agent's promise. A corrupt or
# unknown-version registry.json is refused (exit 1, a message naming the
# file and --reset-registry, the file left byte for byte, nothing sent),
# in batch and stream mode; --reset-registry sets it aside and starts over;
# a second agent on the same data_dir is refused. SIGTERM waits for the
# acknowledgements and saves the registry (exit 0; SIGINT too) even with
# registry_flush: 1h, and with registry_flush: 200ms the registry follows
# the acknowledgements while the agent runs.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"

plan 18
agent_require

LOGS=$TAP_TMP/logs
DATA=$TAP_TMP/data
REG=$DATA/registry.json
TOPIC=$(agent_topic agent-registry)
CONFIG=$TAP_TMP/agent.yml
mkdir -p "$LOGS"

write_lines() {
	local i
	for ((i = $1; i <= $2; i++)); do
		echo "registry line $i GET /r/$i HTTP/1.1 200"
	done >>"$LOGS/access.log"
}

messages() {
	agent_consume "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" | wc -l
}

# The registry's offset for access.log.
reg_offset() {
	jq -r --arg p "$LOGS/access.log" '.entries[] | select(.path == $p) | .offset' "$REG" 2>/dev/null
}

write_lines 1 100
agent_config "$CONFIG" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$DATA" "$LOGS/*.log"
agent_once first "$CONFIG"
check "a first --once ships the file and writes the registry" \
	test "$AGENT_RC:$(messages):$(reg_offset)" = "0:100:$(stat -c %s "$LOGS/access.log")"

# --- refusals ------------------------------------------------------------
write_lines 101 150
# Run --once (or stream mode with $2 = stream) on registry content $1; sets
# RC, OUT (stderr), SAME (1 when the file is unchanged), SENT (new messages).
refused_run() {
	local before
	before=$(messages)
	printf '%s' "$1" >"$REG"
	cp "$REG" "$TAP_TMP/reg.before"
	if [ "${2:-}" = stream ]; then
		timeout 30 "$AGENT" --config "$CONFIG" </dev/null >/dev/null 2>"$TAP_TMP/refused.err"
	else
		timeout 30 "$AGENT" --config "$CONFIG" --once </dev/null >/dev/null 2>"$TAP_TMP/refused.err"
	fi
	RC=$?
	OUT=$(cat "$TAP_TMP/refused.err")
	cat "$TAP_TMP/refused.err" >>"$TAP_TMP/refusals.err"
	SAME=0
	cmp -s "$REG" "$TAP_TMP/reg.before" && SAME=1
	SENT=$(($(messages) - before))
}

refused_run '{"version":1,"entries":[{"id":"0123456789abcdef","fingerp'
check "a truncated registry.json: exit 1" test "$RC" = 1
if [[ $OUT == *registry.json* && $OUT == *--reset-registry* ]]; then
	ok "the message names registry.json and --reset-registry"
else
	not_ok "the message names registry.json and --reset-registry" "$OUT"
fi
check "the corrupt registry is left byte for byte, and nothing is sent" test "$SAME:$SENT" = 1:0

refused_run '{"version":99,"entries":[]}'
if [ "$RC" = 1 ] && [[ $OUT == *version* && $OUT == *--reset-registry* ]] && [ "$SAME:$SENT" = 1:0 ]; then
	ok "an unknown version is refused the same way, its message saying 'version'"
else
	not_ok "an unknown version is refused the same way" "status $RC, same $SAME, sent $SENT: $OUT"
fi

refused_run 'not json at all' stream
check "stream mode refuses a corrupt registry too (exit 1, file untouched, nothing sent)" \
	test "$RC:$SAME:$SENT" = 1:1:0

# --- starting over ----------------------------------------------------------
agent_once reset "$CONFIG" --reset-registry
aside=$(find "$DATA" -name 'registry.json.reset-*' | head -n 1)
check "--reset-registry starts over: exit 0" test "$AGENT_RC" = 0
check "the old registry is kept aside as registry.json.reset-*, unchanged" \
	cmp "$aside" "$TAP_TMP/reg.before"
check "the file is shipped again from its start (100 + 150 messages in all)" test "$(messages)" = 250
check "the new registry holds the file's end" test "$(reg_offset)" = "$(stat -c %s "$LOGS/access.log")"

# --- one agent per data_dir ---------------------------------------------------
agent_config "$CONFIG" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$DATA" "$LOGS/*.log" \
	"registry_flush: 1h" "shutdown_timeout: 20s"
agent_start stream "$CONFIG"
pid=$AGENT_PID
wait_until 30 grep -qs 'known file' "$TAP_TMP/stream.err"
timeout 30 "$AGENT" --config "$CONFIG" --once </dev/null >/dev/null 2>"$TAP_TMP/second.err"
rc=$?
if [ "$rc" = 1 ] && grep -qi 'lock\|another' "$TAP_TMP/second.err"; then
	ok "a second agent on the same data_dir is refused (exit 1)"
else
	not_ok "a second agent on the same data_dir is refused (exit 1)" "status $rc: $(cat "$TAP_TMP/second.err")"
fi

# --- SIGTERM saves what was acknowledged ------------------------------------
agent_consumer "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$TAP_TMP/got"
write_lines 151 650
wait_until 30 agent_has "$TAP_TMP/got" 750
before=$(reg_offset)
start=$SECONDS
agent_stop "$pid"
rc=$?
size=$(stat -c %s "$LOGS/access.log")
if [ "$rc" = 0 ] && [ $((SECONDS - start)) -le 5 ] && [ "$(reg_offset)" = "$size" ]; then
	ok "SIGTERM: exit 0 within 5 s, the registry saved at the file's end"
else
	not_ok "SIGTERM: exit 0 within 5 s, the registry saved at the file's end" \
	       "status $rc after $((SECONDS - start)) s, registry $(reg_offset) of $size"
fi
check "with registry_flush: 1h only the shutdown wrote it (it held $before before)" \
	test "$before" -lt "$size"
check "the shutdown is logged" grep -q 'registry saved' "$TAP_TMP/stream.err"

# --- registry_flush while running -----------------------------------------------
agent_config "$CONFIG" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$DATA" "$LOGS/*.log" \
	"registry_flush: 200ms"
agent_start flush "$CONFIG"
pid=$AGENT_PID
write_lines 651 700
at_end() {
	[ "$(reg_offset)" = "$(stat -c %s "$LOGS/access.log")" ]
}
check "with registry_flush: 200ms the registry follows the acknowledgements while running" \
	wait_until 5 at_end
kill -INT "$pid"
wait_until 30 eval "! kill -0 $pid 2>/dev/null"
wait "$pid"
rc=$?
if [ "$rc" = 0 ] && grep -q 'registry saved' "$TAP_TMP/flush.err"; then
	ok "SIGINT stops the agent gracefully too (exit 0, registry saved)"
else
	not_ok "SIGINT stops the agent gracefully too" "status $rc: $(tail -n 3 "$TAP_TMP/flush.err")"
fi
check "over every run each line was shipped once, but for the reset (750 + 50 messages)" \
	test "$(messages)" = 800

check "no sanitizer report in the agents' stderr" agent_sanitizer_clean
