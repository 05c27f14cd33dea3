#!/usr/bin/env bash
# agent_behind.sh: rotation and deletion while the agent is behind. A
# private broker is taken down so that the agent, its max_buffer full
# (1 MiB), has read only the start of a 30000-line file; then one file is
# copytruncated (its unread lines now live only in the copy, which the glob
# covers) and another is deleted (its unread lines live only in the fd the
# agent holds). A third is copytruncated while the agent is stopped
# (SIGSTOP: a busy machine) and regrows past the agent's offset before it
# looks: only the content, not the size, tells it is another file. Once
# Kafka is back every line must arrive exactly once, and the deleted file's
# fd must be closed once it is drained.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"

plan 9
agent_require

LINES=30000
agent_broker "copy:4"
agent_broker_send "topic del 4"
agent_broker_send "topic regrow 4"

# Lines $2..$3 of tag $1, about 100 bytes each, appended to file $4.
write_lines() {
	awk -v tag="$1" -v a="$2" -v b="$3" 'BEGIN {
		for (i = a; i <= b; i++)
			printf "%s line %06d 10.0.0.1 - - [24/Nov/2026:20:26:22 +0000] \"GET /behind/%d HTTP/1.1\" 200 512\n", tag, i, i
	}' >>"$4"
}

# Set up scenario $1: folder, agent (AGENT_PID, PORT).
scenario() {
	local dir=$TAP_TMP/$1
	mkdir -p "$dir/logs"
	agent_config "$dir/agent.yml" "$BROKER_BOOT" "$1" "$dir/data" "$dir/logs/access.log*" \
		"max_buffer: 1MiB" "http: {listen: '127.0.0.1:0'}"
	agent_start "$1" "$dir/agent.yml"
	PORT=$(agent_http_port "$1")
	write_lines "$1" 1 100 "$dir/logs/access.log"
}

# Whether agent on port $1 has had at least $2 lines acknowledged (its own
# count: a consumer may take long to reconnect after an outage).
acked() {
	local n
	n=$(agent_metric "$1" logtally_agent_lines_acked_total)
	[ -n "$n" ] && [ "${n%.*}" -ge "$2" ]
}

# Whether agent on port $1 has read at least $2 lines.
has_read() {
	local n
	n=$(agent_metric "$1" logtally_agent_lines_read_total)
	[ -n "$n" ] && [ "${n%.*}" -ge "$2" ]
}

# Line numbers of tag $1 delivered, sorted, duplicates kept.
delivered() {
	cut -f 3- "$TAP_TMP/$1/final" | jq -r .message | awk '{ print $3 }' | sort
}

scenario copy
PID_copy=$AGENT_PID
PORT_copy=$PORT
scenario del
PID_del=$AGENT_PID
PORT_del=$PORT
scenario regrow
PID_regrow=$AGENT_PID
PORT_regrow=$PORT
if ! wait_until 30 acked "$PORT_copy" 100 || ! wait_until 30 acked "$PORT_del" 100 ||
   ! wait_until 30 acked "$PORT_regrow" 100; then
	bail_out "the agents did not ship their first lines"
fi

agent_broker_send "down all"
write_lines copy 101 "$LINES" "$TAP_TMP/copy/logs/access.log"
write_lines del 101 "$LINES" "$TAP_TMP/del/logs/access.log"
write_lines regrow 101 "$LINES" "$TAP_TMP/regrow/logs/access.log"
wait_until 30 has_read "$PORT_copy" 1000
wait_until 30 has_read "$PORT_del" 1000
wait_until 30 has_read "$PORT_regrow" 1000
read_copy=$(agent_metric "$PORT_copy" logtally_agent_lines_read_total)
read_del=$(agent_metric "$PORT_del" logtally_agent_lines_read_total)

cp "$TAP_TMP/copy/logs/access.log" "$TAP_TMP/copy/logs/access.log.1"
truncate -s 0 "$TAP_TMP/copy/logs/access.log"
write_lines copy2 1 1000 "$TAP_TMP/copy/logs/access.log"
rm "$TAP_TMP/del/logs/access.log"
kill -STOP "$PID_regrow"
cp "$TAP_TMP/regrow/logs/access.log" "$TAP_TMP/regrow/logs/access.log.1"
truncate -s 0 "$TAP_TMP/regrow/logs/access.log"
write_lines regrow2 1 10000 "$TAP_TMP/regrow/logs/access.log"   # 1 MB, past the offset
kill -CONT "$PID_regrow"
wait_until 30 grep -q 'deleted' "$TAP_TMP/del.err"

if [ "${read_copy%.*}" -lt "$LINES" ] && [ "${read_del%.*}" -lt "$LINES" ] &&
   ! has_read "$PORT_copy" "$LINES" && ! has_read "$PORT_del" "$LINES"; then
	ok "with Kafka down the agents stop reading at max_buffer (read $read_copy and $read_del of $LINES)"
else
	not_ok "with Kafka down the agents stop reading at max_buffer" "read $read_copy and $read_del of $LINES"
fi
check "the deletion was noticed while lines were unread" grep -q 'deleted' "$TAP_TMP/del.err"

agent_broker_send "up all"
wait_until 90 acked "$PORT_copy" $((LINES + 1000))
wait_until 90 acked "$PORT_del" "$LINES"
wait_until 90 acked "$PORT_regrow" $((LINES + 10000))

# The deleted file's fd is closed once drained (after a short grace).
deleted_fds() {
	find "/proc/$PID_del/fd" -lname "$TAP_TMP/del/logs/*" 2>/dev/null | wc -l
}
no_deleted_fds() {
	[ "$(deleted_fds)" = 0 ]
}
if wait_until 30 no_deleted_fds; then
	ok "the deleted file is closed once drained"
else
	not_ok "the deleted file is closed once drained" "$(ls -l "/proc/$PID_del/fd"; tail -n 5 "$TAP_TMP/del.err")"
fi

agent_stop "$PID_copy"
STATUS_copy=$?
agent_stop "$PID_del"
STATUS_del=$?
agent_consume "$BROKER_BOOT" copy >"$TAP_TMP/copy/final"
agent_stop "$PID_regrow"
STATUS_regrow=$?
agent_consume "$BROKER_BOOT" del >"$TAP_TMP/del/final"
agent_consume "$BROKER_BOOT" regrow >"$TAP_TMP/regrow/final"

if diff <({ seq -f '%06g' 1 "$LINES"; seq -f '%06g' 1 1000; } | sort) <(delivered copy) >"$TAP_TMP/diff"; then
	ok "copytruncate while behind: every line of both generations exactly once, the unread ones from the copy"
else
	not_ok "copytruncate while behind: every line of both generations exactly once" \
	       "$(head -n 20 "$TAP_TMP/diff"); $(wc -l <"$TAP_TMP/copy/final") messages"
fi
check "the copy's lines were not sent again from its start" \
	test "$(cut -f 3- "$TAP_TMP/copy/final" | jq -r .message | awk '$1 == "copy"' | wc -l)" = "$LINES"
if diff <(seq -f '%06g' 1 "$LINES") <(delivered del) >"$TAP_TMP/diff"; then
	ok "a file deleted while unread is still shipped, every line exactly once"
else
	not_ok "a file deleted while unread is still shipped, every line exactly once" \
	       "$(head -n 20 "$TAP_TMP/diff"); $(wc -l <"$TAP_TMP/del/final") messages"
fi
if diff <({ seq -f '%06g' 1 "$LINES"; seq -f '%06g' 1 10000; } | sort) <(delivered regrow) >"$TAP_TMP/diff"; then
	ok "copytruncate regrown past the offset before the agent looked: every line of both generations exactly once"
else
	not_ok "copytruncate regrown past the offset before the agent looked: every line exactly once" \
	       "$(cut -f 3- "$TAP_TMP/regrow/final" | jq -r .message | awk '{ print $1 }' | sort | uniq -c)"
fi
check "the agents stop with status 0" test "$STATUS_copy$STATUS_del$STATUS_regrow" = 000

check "no sanitizer report in the agents' stderr" agent_sanitizer_clean
