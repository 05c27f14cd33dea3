#!/usr/bin/env bash
# agent_rotation.sh: the agent follows files through rotation, in stream
# mode, while a writer keeps appending, with a glob that covers the rotated
# names (access.log*). Rename rotation (mv, then the writer reopens a new
# access.log; twice) and copytruncate (cp, then truncate in place; twice)
# must each deliver every line exactly once, a renamed file keeping its
# source id, even when the agent sees a copy before it is complete. A file truncated and written again (even with the same first
# line) becomes a new source read from offset 0, and so does a new file
# that got the inode of a deleted one the agent had closed.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"

plan 11
agent_require

# Write lines $2..$3 of tag $1 to fd 3, 100 at a time, paced like a busy
# server so that the agent reads while the writer writes.
write_lines() {
	local i
	for ((i = $2; i <= $3; i++)); do
		printf '%s line %06d GET /rotate/%d HTTP/1.1 200\n' "$1" "$i" "$i" >&3
		if ((i % 100 == 0)); then
			sleep 0.02
		fi
	done
}

# The numbers 1..$2 as tag $1's lines would carry them.
numbers() {
	seq -f '%06g' 1 "$1"
}

# Start scenario $1: its folder, topic, consumer and agent; $2...: more
# configuration lines.
scenario() {
	DIR=$TAP_TMP/$1
	mkdir -p "$DIR/logs"
	TOPIC=$(agent_topic "agent-$1")
	agent_config "$DIR/agent.yml" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$DIR/data" "$DIR/logs/access.log*" \
		"${@:2}"
	agent_consumer "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$DIR/got"
	agent_start "$1" "$DIR/agent.yml"
	PID=$AGENT_PID
}

# Wait for $1 messages, stop the agent, and read the topic's final state.
finish() {
	wait_until 60 agent_has "$DIR/got" "$1"
	agent_stop "$PID"
	STATUS=$?
	agent_consume "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" >"$DIR/final"
}

# The line numbers delivered, sorted, duplicates kept.
delivered() {
	cut -f 3- "$DIR/final" | jq -r .message | awk '{ print $3 }' | sort
}

# Distinct keys, and per key the range of line numbers, as "FIRST-LAST COUNT".
key_ranges() {
	paste <(cut -f 1 "$DIR/final") <(cut -f 3- "$DIR/final" | jq -r .message | awk '{ print $3 + 0 }') |
		awk '{ if (!($1 in lo) || $2 < lo[$1]) lo[$1] = $2; if ($2 > hi[$1]) hi[$1] = $2; n[$1]++ }
		     END { for (k in lo) print lo[k] "-" hi[k], n[k] }' | sort -n
}

# --- rename rotation ---------------------------------------------------
scenario rename
exec 3>>"$DIR/logs/access.log"
write_lines R 1 100
wait_until 30 agent_has "$DIR/got" 100     # the agent follows the file
write_lines R 101 3000
mv "$DIR/logs/access.log" "$DIR/logs/access.log.1"
write_lines R 3001 3500                 # the writer has not reopened yet
exec 3>>"$DIR/logs/access.log"
write_lines R 3501 6000
mv "$DIR/logs/access.log.1" "$DIR/logs/access.log.2"
mv "$DIR/logs/access.log" "$DIR/logs/access.log.1"
write_lines R 6001 6200
exec 3>>"$DIR/logs/access.log"
write_lines R 6201 8000
exec 3>&-
finish 8000
if diff <(numbers 8000) <(delivered) >"$DIR/diff"; then
	ok "rename rotation, twice, writer appending: every one of 8000 lines exactly once"
else
	not_ok "rename rotation, twice, writer appending: every one of 8000 lines exactly once" \
	       "$(head -n 20 "$DIR/diff"); $(grep -c . "$DIR/final") messages"
fi
want="1-3500 3500
3501-6200 2700
6201-8000 1800"
if [ "$(key_ranges)" = "$want" ]; then
	ok "a renamed file keeps its source id: one key per file, whatever its name"
else
	not_ok "a renamed file keeps its source id: one key per file, whatever its name" "$(key_ranges)"
fi
check "the rename was noticed and logged" grep -q 'renamed to' "$TAP_TMP/rename.err"
check "SIGTERM stops the agent with status 0" test "$STATUS" = 0

# --- copytruncate ---------------------------------------------------------
scenario copy
exec 3>>"$DIR/logs/access.log"          # O_APPEND, as copytruncate requires
write_lines C 1 100
wait_until 30 agent_has "$DIR/got" 100
write_lines C 101 3000
cp "$DIR/logs/access.log" "$DIR/logs/access.log.1"
truncate -s 0 "$DIR/logs/access.log"
write_lines C 3001 6000
mv "$DIR/logs/access.log.1" "$DIR/logs/access.log.2"    # as logrotate does
cp "$DIR/logs/access.log" "$DIR/logs/access.log.1"
truncate -s 0 "$DIR/logs/access.log"
write_lines C 6001 8000
exec 3>&-
finish 8000
if diff <(numbers 8000) <(delivered) >"$DIR/diff"; then
	ok "copytruncate, twice, glob covering the copies: every one of 8000 lines exactly once"
else
	not_ok "copytruncate, twice, glob covering the copies: every one of 8000 lines exactly once" \
	       "$(head -n 20 "$DIR/diff"); $(grep -c . "$DIR/final") messages
$(grep -v 'Kafka' "$TAP_TMP/copy.err")"
fi
want="1-3000 3000
3001-6000 3000
6001-8000 2000"
if [ "$(key_ranges)" = "$want" ]; then
	ok "each generation of the truncated file is one source, and the copies add none"
else
	not_ok "each generation of the truncated file is one source, and the copies add none" "$(key_ranges)"
fi
# One registry entry per generation, each at the end of the file holding it.
entry_ends() {
	jq -r ".entries[].offset" "$DIR/data/registry.json" | sort -n
}
file_ends() {
	stat -c %s "$DIR"/logs/access.log* | sort -n
}
if [ "$(entry_ends)" = "$(file_ends)" ]; then
	ok "the registry holds three sources, each at the end of the file holding its generation"
else
	not_ok "the registry holds three sources, each at the end of the file holding its generation" \
	       "entries: $(entry_ends | tr "\n" " "); files: $(file_ends | tr "\n" " ")"
fi

# --- copytruncate caught half-way through the copy ---------------------------
# logrotate's copy of a big file takes a while: the agent may see the copy
# shorter than what it read of the original. It is still a copy.
scenario slowcopy
exec 3>>"$DIR/logs/access.log"
write_lines S 1 2000
wait_until 30 agent_has "$DIR/got" 2000
half=$(($(stat -c %s "$DIR/logs/access.log") / 2))
head -c "$half" "$DIR/logs/access.log" >"$DIR/logs/access.log.1"
wait_until 10 grep -qs 'access.log.1: ' "$TAP_TMP/slowcopy.err"
tail -c +$((half + 1)) "$DIR/logs/access.log" >>"$DIR/logs/access.log.1"
truncate -s 0 "$DIR/logs/access.log"
write_lines S 2001 3000
exec 3>&-
finish 3000
if diff <(numbers 3000) <(delivered) >"$DIR/diff"; then
	ok "a copy seen half-written is still a copy: every one of 3000 lines exactly once"
else
	not_ok "a copy seen half-written is still a copy: every one of 3000 lines exactly once" \
	       "$(grep -c . "$DIR/final") messages; $(grep 'access.log.1' "$TAP_TMP/slowcopy.err")"
fi

# --- truncation, with new content and with the same content ---------------
scenario trunc
exec 3>>"$DIR/logs/access.log"
write_lines T 1 500
wait_until 30 agent_has "$DIR/got" 500
truncate -s 0 "$DIR/logs/access.log"
write_lines U 1 300                     # a new first line
wait_until 30 agent_has "$DIR/got" 800
truncate -s 0 "$DIR/logs/access.log"
write_lines U 1 300                     # the same first line again
exec 3>&-
finish 1100
# "TAG NUMBER KEY OFFSET" of every line, to compare with what was written.
summary() {
	paste <(cut -f 1 "$DIR/final") <(cut -f 3- "$DIR/final" | jq -r '"\(.message)\t\(.log.offset)"') |
		awk -F'\t' '{ split($2, w, " "); print w[1], w[3], $1, $3 }'
}
summary >"$DIR/summary"
# Each block of lines: its key count and whether its offsets start at 0.
blocks_ok() {
	local t_keys u_keys
	t_keys=$(awk '$1 == "T" { print $3 }' "$DIR/summary" | sort -u | wc -l)
	u_keys=$(awk '$1 == "U" { print $3 }' "$DIR/summary" | sort -u | wc -l)
	[ "$t_keys" = 1 ] && [ "$u_keys" = 2 ] &&
		[ "$(awk '$1 == "U" && $2 == "000001" { print $4 }' "$DIR/summary")" = "0
0" ] && [ "$(awk '$1 == "T" && $2 == "000001" { print $4 }' "$DIR/summary")" = 0 ] &&
		[ "$(awk '$1 == "U" { print $2 }' "$DIR/summary" | sort | uniq -c | awk '$1 != 2' | wc -l)" = 0 ] &&
		[ "$(wc -l <"$DIR/summary")" = 1100 ]
}
if blocks_ok; then
	ok "a truncated file is read again from offset 0 as a new source, even with the same first line"
else
	not_ok "a truncated file is read again from offset 0 as a new source, even with the same first line" \
	       "$(awk '{ print $1, $3 }' "$DIR/summary" | sort | uniq -c)"
fi

# --- a reused inode ------------------------------------------------------------
scenario inode "close_inactive: 1s" "http: {listen: '127.0.0.1:0'}"
port=$(agent_http_port inode)
exec 3>>"$DIR/logs/access.log"
write_lines I 1 100
exec 3>&-
wait_until 30 agent_has "$DIR/got" 100
old_inode=$(stat -c %i "$DIR/logs/access.log")
closed() {
	[ "$(agent_metric "$port" logtally_agent_files_open)" = 0 ]
}
wait_until 30 closed
rm "$DIR/logs/access.log"
exec 3>>"$DIR/logs/access.log"          # ext4 and tmpfs hand the inode out again
write_lines J 1 50
exec 3>&-
reused=no
[ "$(stat -c %i "$DIR/logs/access.log")" = "$old_inode" ] && reused=yes
finish 150
summary >"$DIR/summary"
if [ "$(awk '{ print $1, $3 }' "$DIR/summary" | sort -u | awk '{ print $1 }' | tr -d '\n')" = IJ ] &&
   [ "$(awk '{ print $3 }' "$DIR/summary" | sort -u | wc -l)" = 2 ] &&
   [ "$(awk '$1 == "J" && $2 == "000001" { print $4 }' "$DIR/summary")" = 0 ] &&
   [ "$(awk '{ print $1 $2 }' "$DIR/summary" | sort | uniq -d | wc -l)" = 0 ] &&
   [ "$(wc -l <"$DIR/summary")" = 150 ]; then
	ok "a new file on a closed file's inode (reused: $reused) is a new source read from 0"
else
	not_ok "a new file on a closed file's inode (reused: $reused) is a new source read from 0" \
	       "$(awk '{ print $1, $3 }' "$DIR/summary" | sort | uniq -c)"
fi

check "no sanitizer report in the agents' stderr" agent_sanitizer_clean
