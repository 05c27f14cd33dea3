#!/usr/bin/env bash
# agent_batch.sh: logtally-agent --once against the shared broker. The first
# run ships every complete line of the files there, as DESIGN's JSON (path,
# byte offset, host, fields, source id as the key, one partition per file in
# order) and records each file's end in the registry; a partial last line
# waits; an excluded file and a read_from: end file's old lines are never
# sent. A second run ships exactly what was appended, a third nothing.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"

plan 14
agent_require

TOPIC=$(agent_topic agent-batch)
LOGS=$TAP_TMP/logs
DATA=$TAP_TMP/data
CONFIG=$TAP_TMP/agent.yml
mkdir -p "$LOGS" "$TAP_TMP/late"

# Numbered lines $2..$3 of file tag $1, in combined log format.
log_lines() {
	local i
	for ((i = $2; i <= $3; i++)); do
		printf '10.0.%d.%d - - [24/Nov/2026:20:26:22 +0000] "GET /%s/page/%d?q=%%23tag HTTP/1.1" 200 %d "-" "curl/8.0"\n' \
			$((i % 256)) $((i % 7)) "$1" "$i" $((i * 13 % 5000))
	done
}

log_lines a 1 2000 >"$LOGS/access.log"
log_lines b 1 500 >"$LOGS/access.log.1"
printf 'a partial last line, no newline yet' >>"$LOGS/access.log.1"
log_lines gz 1 10 >"$LOGS/access.log.2.gz"
log_lines late 1 100 >"$TAP_TMP/late/late.log"
cat >"$CONFIG" <<EOF
name: $AGENT_HOST
data_dir: $DATA
inputs:
  - paths: ["$LOGS/access.log*"]
    exclude: ["*.gz"]
    fields: {service: test}
  - paths: ["$TAP_TMP/late/*.log"]
    read_from: end
    fields: {service: test}
kafka:
  brokers: $LOGTALLY_KAFKA_BROKERS
  topic: $TOPIC
EOF

# The complete lines of the files that are shipped from their start.
expected() {
	agent_lines "$LOGS/access.log" "$LOGS/access.log.1" | sort
}

# The registry's offset for path $1.
registry_offset() {
	jq -r --arg p "$1" '.entries[] | select(.path == $p) | .offset' "$DATA/registry.json"
}

start=$SECONDS
agent_once first "$CONFIG"
if [ "$AGENT_RC" = 0 ] && [ $((SECONDS - start)) -le 30 ]; then
	ok "--once exits 0 once everything is acknowledged"
else
	not_ok "--once exits 0 once everything is acknowledged" \
	       "status $AGENT_RC after $((SECONDS - start)) s: $(tail -n 20 "$TAP_TMP/first.err")"
fi

agent_consume "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" >"$TAP_TMP/got1"
if diff <(expected) <(agent_got "$TAP_TMP/got1" | sort) >"$TAP_TMP/diff"; then
	ok "every complete line arrived exactly once, with its path and byte offset (2500 lines)"
else
	not_ok "every complete line arrived exactly once, with its path and byte offset" \
	       "$(head -n 20 "$TAP_TMP/diff")"
fi

# Each value is DESIGN's envelope, nothing more and nothing less.
envelope_ok() {
	cut -f 3- "$1" | jq -e -s --arg host "$AGENT_HOST" 'length > 0 and all(.[];
		(keys == ["@timestamp", "agent", "fields", "host", "input", "log", "message"]) and
		(.["@timestamp"] | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$")) and
		.host == {name: $host} and .agent.type == "logtally-agent" and
		(.agent.version | test("^[0-9]+\\.[0-9]+\\.[0-9]+")) and
		.input == {type: "filestream"} and .fields == {service: "test"} and
		(.log | keys == ["file", "offset"]) and (.log.offset | type == "number"))' >/dev/null
}
check "each value is valid JSON with exactly DESIGN's fields (timestamp, host, agent, input, fields)" \
	envelope_ok "$TAP_TMP/got1"

# Per path: its keys, partitions, and whether offsets increase in Kafka order.
by_path() {
	paste <(cut -f 1,2 "$1") <(cut -f 3- "$1" | jq -r '"\(.log.file.path)\t\(.log.offset)"') |
		awk -F'\t' '{ if ($3 in last && $4 + 0 <= last[$3]) bad[$3] = 1; last[$3] = $4 + 0;
			      k[$3][$1] = 1; p[$3][$2] = 1 }
			    END { for (f in k) print f, length(k[f]), length(p[f]), (f in bad) ? "unordered" : "ordered" }' |
		sort
}
by_path "$TAP_TMP/got1" >"$TAP_TMP/by-path"
want="$LOGS/access.log 1 1 ordered
$LOGS/access.log.1 1 1 ordered"
if [ "$(cat "$TAP_TMP/by-path")" = "$want" ]; then
	ok "each file's lines carry one key, go to one partition, in file order"
else
	not_ok "each file's lines carry one key, go to one partition, in file order" "$(cat "$TAP_TMP/by-path")"
fi

# The keys are the registry's source ids, one per file, 16 hex digits.
keys_ok() {
	local key path id n=0
	while IFS=$'\t' read -r key path; do
		id=$(jq -r --arg p "$path" '.entries[] | select(.path == $p) | .id' "$DATA/registry.json")
		[[ $key =~ ^[0-9a-f]{16}$ && $key == "$id" ]] || { echo "$path: key $key, registry id $id"; return 1; }
		n=$((n + 1))
	done < <(paste <(cut -f 1 "$1") <(cut -f 3- "$1" | jq -r '.log.file.path') | sort -u)
	[ "$n" = 2 ] || { echo "$n distinct key/path pairs"; return 1; }
}
check "the key of each line is its file's source id in the registry (16 hex digits, one per file)" \
	keys_ok "$TAP_TMP/got1"

size_a=$(stat -c %s "$LOGS/access.log")
partial_at=$(( $(stat -c %s "$LOGS/access.log.1") - 35 ))
if [ "$(registry_offset "$LOGS/access.log")" = "$size_a" ] &&
   [ "$(registry_offset "$LOGS/access.log.1")" = "$partial_at" ]; then
	ok "the registry holds each file's end; a partial last line is neither sent nor passed"
else
	not_ok "the registry holds each file's end; a partial last line is neither sent nor passed" \
	       "$(cat "$DATA/registry.json")"
fi

if [ "$(cut -f 3- "$TAP_TMP/got1" | jq -r .log.file.path | grep -c -e '\.gz$' -e '/late\.log$')" = 0 ]; then
	ok "an excluded file and the old lines of a read_from: end file are not sent"
else
	not_ok "an excluded file and the old lines of a read_from: end file are not sent"
fi

# Append: 300 lines to access.log, the end of the partial line, 20 late lines.
log_lines a 2001 2300 >>"$LOGS/access.log"
printf ', now complete\n' >>"$LOGS/access.log.1"
log_lines b 501 510 >>"$LOGS/access.log.1"
late_size=$(stat -c %s "$TAP_TMP/late/late.log")
log_lines late 101 120 >>"$TAP_TMP/late/late.log"
agent_once second "$CONFIG"
check "a second --once exits 0" test "$AGENT_RC" = 0

agent_consume "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" >"$TAP_TMP/got2"
comm -13 <(sort "$TAP_TMP/got1") <(sort "$TAP_TMP/got2") >"$TAP_TMP/new2"
expected_new() {
	{
		agent_lines "$LOGS/access.log" | awk -F'\t' -v s="$size_a" '$2 >= s'
		agent_lines "$LOGS/access.log.1" | awk -F'\t' -v s="$partial_at" '$2 >= s'
		agent_lines "$TAP_TMP/late/late.log" | awk -F'\t' -v s="$late_size" '$2 >= s'
	} | sort
}
if [ "$(wc -l <"$TAP_TMP/new2")" = 331 ] &&
   diff <(expected_new) <(agent_got "$TAP_TMP/new2" | sort) >"$TAP_TMP/diff"; then
	ok "the second run ships exactly the 331 lines appended, the completed partial line included"
else
	not_ok "the second run ships exactly the 331 lines appended, the completed partial line included" \
	       "$(wc -l <"$TAP_TMP/new2") new messages; $(head -n 20 "$TAP_TMP/diff")"
fi

if diff <({ expected; agent_lines "$TAP_TMP/late/late.log" | awk -F'\t' -v s="$late_size" '$2 >= s'; } | sort) \
	<(agent_got "$TAP_TMP/got2" | sort) >"$TAP_TMP/diff"; then
	ok "over both runs every line was sent exactly once"
else
	not_ok "over both runs every line was sent exactly once" "$(head -n 20 "$TAP_TMP/diff")"
fi
check "the partial line kept its offset once completed" \
	grep -q "\"message\":\"a partial last line, no newline yet, now complete\",\"log\":{\"file\":{\"path\":\"$LOGS/access.log.1\"},\"offset\":$partial_at}" "$TAP_TMP/new2"

agent_once third "$CONFIG"
agent_consume "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" >"$TAP_TMP/got3"
if [ "$AGENT_RC" = 0 ] && cmp -s <(sort "$TAP_TMP/got2") <(sort "$TAP_TMP/got3"); then
	ok "a third --once with nothing new sends nothing and exits 0"
else
	not_ok "a third --once with nothing new sends nothing and exits 0" \
	       "status $AGENT_RC, $(($(wc -l <"$TAP_TMP/got3") - $(wc -l <"$TAP_TMP/got2"))) new messages"
fi

if [ "$(registry_offset "$LOGS/access.log")" = "$(stat -c %s "$LOGS/access.log")" ] &&
   [ "$(registry_offset "$TAP_TMP/late/late.log")" = "$(stat -c %s "$TAP_TMP/late/late.log")" ]; then
	ok "the registry ends at each file's end after the last run"
else
	not_ok "the registry ends at each file's end after the last run" "$(cat "$DATA/registry.json")"
fi

check "no sanitizer report in the agent's stderr" agent_sanitizer_clean
