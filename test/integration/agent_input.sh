#!/usr/bin/env bash
# agent_input.sh: bytes that are not tidy log lines. test/data/agent/
# odd-bytes.txt holds CRLF, a lone CR, invalid UTF-8 (each maximal subpart
# one U+FFFD), NUL and control bytes, quotes and backslashes; its messages
# must equal odd-bytes.expected, in order, as valid UTF-8 JSON. A 3 MiB line
# written in two steps is cut to max_line_bytes (64 KiB here), flagged
# "truncated" and counted, and the lines after it arrive intact with their
# offsets; a line of exactly max_line_bytes is not cut. With the default
# limit a multi-MB line is cut to what Kafka takes, never stalling the file.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"

plan 14
agent_require

DATA_SRC=$top_srcdir/test/data/agent
LOGS=$TAP_TMP/logs
TOPIC=$(agent_topic agent-input)
CONFIG=$TAP_TMP/agent.yml
mkdir -p "$LOGS"
MAX=65536
LONG=$((3 << 20))

# $2 copies of character $1, then a newline.
repeat() {
	perl -e 'print $ARGV[0] x $ARGV[1], "\n"' "$1" "$2"
}

agent_config "$CONFIG" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$TAP_TMP/data" "$LOGS/*.log" \
	"max_line_bytes: 64KiB" "http: {listen: '127.0.0.1:0'}"
cp "$DATA_SRC/odd-bytes.txt" "$LOGS/odd.log"
{
	echo before
	repeat x $((2 << 20)) | tr -d '\n'
} >"$LOGS/long.log"
agent_consumer "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$TAP_TMP/got"
agent_start stream "$CONFIG"
pid=$AGENT_PID
port=$(agent_http_port stream)

# The second part of the long line once the agent has read the first.
wait_until 30 grep -q '"message":"before"' "$TAP_TMP/got"
{
	repeat x $((LONG - (2 << 20)))
	echo "after the long line"
	repeat z "$MAX"
	repeat y $((MAX + 1))
	echo end
} >>"$LOGS/long.log"

if wait_until 60 agent_has "$TAP_TMP/got" 19; then
	ok "the agent sends the 13 odd lines and the 6 lines around long ones"
else
	not_ok "the agent sends the 13 odd lines and the 6 lines around long ones" \
	       "$(wc -l <"$TAP_TMP/got") messages; $(tail -n 20 "$TAP_TMP/stream.err")"
fi

# The values of file $2 in message file $1, in Kafka order.
values_of() {
	grep -F "\"path\":\"$LOGS/$2\"" "$1" | cut -f 3-
}
values_of "$TAP_TMP/got" odd.log >"$TAP_TMP/odd.values"
values_of "$TAP_TMP/got" long.log >"$TAP_TMP/long.values"

check "every value is valid UTF-8, whatever bytes the line held" \
	iconv -f UTF-8 -t UTF-8 "$TAP_TMP/odd.values" -o /dev/null
if diff <(jq -c . "$DATA_SRC/odd-bytes.expected") <(jq -c .message "$TAP_TMP/odd.values") >"$TAP_TMP/diff"; then
	ok "CRLF loses its CR, invalid UTF-8 becomes U+FFFD, NUL and control bytes are escaped"
else
	not_ok "CRLF loses its CR, invalid UTF-8 becomes U+FFFD, NUL and control bytes are escaped" \
	       "$(head -n 20 "$TAP_TMP/diff")"
fi
if diff <(agent_lines "$LOGS/odd.log" | cut -f 2) <(jq .log.offset "$TAP_TMP/odd.values") >"$TAP_TMP/diff"; then
	ok "the odd lines carry their byte offsets"
else
	not_ok "the odd lines carry their byte offsets" "$(head -n 20 "$TAP_TMP/diff")"
fi

# Line $1 of long.values: "OFFSET LENGTH FLAGS FIRST-CHARACTER".
long_value() {
	sed -n "$1p" "$TAP_TMP/long.values" |
		jq -r '"\(.log.offset) \(.message | length) \(.log.flags // [] | join(",")) \(.message[0:1])"'
}
check "the long line is cut to max_line_bytes and flagged truncated, at its own offset" \
	test "$(long_value 2)" = "7 $MAX truncated x"
after=$((7 + LONG + 1))
if [ "$(long_value 1)" = "0 6  b" ] && [ "$(long_value 3)" = "$after 19  a" ] &&
   [ "$(jq -r .message "$TAP_TMP/long.values" | sed -n 3p)" = "after the long line" ]; then
	ok "the lines before and after the long line arrive intact with their offsets"
else
	not_ok "the lines before and after the long line arrive intact with their offsets" \
	       "$(long_value 1); $(long_value 3)"
fi
check "a line of exactly max_line_bytes is sent whole, not flagged" \
	test "$(long_value 4)" = "$((after + 20)) $MAX  z"
check "a line one byte longer is cut and flagged" \
	test "$(long_value 5)" = "$((after + 20 + MAX + 1)) $MAX truncated y"
check "the last line is intact" \
	test "$(long_value 6)" = "$((after + 20 + 2 * MAX + 3)) 3  e"
check "truncated lines are counted on /metrics" \
	test "$(agent_metric "$port" logtally_agent_lines_truncated_total)" = 2

agent_stop "$pid"
rc=$?
size=$(stat -c %s "$LOGS/long.log")
if [ "$rc" = 0 ] && [ "$(jq --arg p "$LOGS/long.log" '.entries[] | select(.path == $p) | .offset' \
	"$TAP_TMP/data/registry.json")" = "$size" ]; then
	ok "after SIGTERM the registry holds the end of the file with the long lines"
else
	not_ok "after SIGTERM the registry holds the end of the file with the long lines" \
	       "status $rc; $(cat "$TAP_TMP/data/registry.json")"
fi

# With the default max_line_bytes (1 MiB, above Kafka's default message size).
TOPIC2=$(agent_topic agent-input-big)
mkdir -p "$TAP_TMP/big"
{
	echo first
	repeat w $((5 << 20))
	echo after
} >"$TAP_TMP/big/big.log"
agent_config "$TAP_TMP/big.yml" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC2" "$TAP_TMP/data2" "$TAP_TMP/big/*.log"
agent_once big "$TAP_TMP/big.yml"
agent_consume "$LOGTALLY_KAFKA_BROKERS" "$TOPIC2" | cut -f 3- >"$TAP_TMP/big.values"
summary=$(jq -r '"\(.log.offset) \(.log.flags // [] | join(",")) \(.message | length)"' "$TAP_TMP/big.values" |
	  awk '{ if ($3 > 100) $3 = ($3 >= 900000 && $3 <= 1048576) ? "cut" : "bad:" $3; print }' | tr '\n' ';')
if [ "$AGENT_RC" = 0 ] && [ "$summary" = "0  5;6 truncated cut;$((6 + (5 << 20) + 1))  5;" ]; then
	ok "with the default limit a 5 MiB line is cut to fit Kafka (900 kB..1 MiB), flagged, and the next line follows"
else
	not_ok "with the default limit a 5 MiB line is cut to fit Kafka, flagged, and the next line follows" \
	       "status $AGENT_RC; offset/flags/length: $summary; $(tail -n 5 "$TAP_TMP/big.err")"
fi
check "no Kafka size error was logged" eval "! grep -i 'too large' \"$TAP_TMP\"/*.err"

check "no sanitizer report in the agent's stderr" agent_sanitizer_clean
