#!/usr/bin/env bash
# agent_crash.sh: kill -9 four times while a writer appends ~2000 lines/s.
# After each kill the registry on disk is valid JSON and no older than
# registry_flush (1 s, plus slack for a loaded machine), and the next agent
# resumes from it. In the end every line is in Kafka, and every duplicate
# lies between a killed agent's last saved offset and the file's end at
# the kill (the unflushed interval), their number bounded by those lines.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"

plan 8
agent_require

KILLS=4
BATCHES=160             # of 100 lines, one every 0.05 s: about 8 s of writing
SLACK=2                 # seconds a loaded machine may add to registry_flush
LOG=$TAP_TMP/logs/access.log
DATA=$TAP_TMP/data
REG=$DATA/registry.json
TOPIC=$(agent_topic agent-crash)
CONFIG=$TAP_TMP/agent.yml
mkdir -p "$TAP_TMP/logs"
agent_config "$CONFIG" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$DATA" "$TAP_TMP/logs/*.log" \
	"registry_flush: 1s"

writer() {
	local b
	for ((b = 0; b < BATCHES; b++)); do
		awk -v b="$b" 'BEGIN { for (i = b * 100 + 1; i <= b * 100 + 100; i++)
			printf "crash line %06d 10.1.2.3 - - [24/Nov/2026:20:26:22 +0000] \"GET /crash/%d HTTP/1.1\" 200 99\n", i, i }' >>"$LOG"
		sleep 0.05
	done
}

now_ms() {
	date +%s%3N
}

writer &
WRITER=$!
cleanup_add "kill_wait $WRITER"

# Run the agent, kill -9 it after PAUSES[k] seconds; record per kill "REG EOF AGE_MS".
PAUSES=(0 1.3 1.8 1.5 2.2)
: >"$TAP_TMP/kills"
valid=0
for ((k = 1; k <= KILLS; k++)); do
	agent_start "run$k" "$CONFIG"
	sleep "${PAUSES[k]}"
	kill -KILL "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	killed=$(now_ms)
	eof=$(stat -c %s "$LOG")
	if jq -e '.version == 1' "$REG" >/dev/null 2>&1; then
		valid=$((valid + 1))
	fi
	reg=$(jq -r '.entries[0].offset // 0' "$REG" 2>/dev/null || echo 0)
	mtime=$(stat -c %.3Y "$REG" 2>/dev/null | tr -d .)
	echo "$reg $eof $((killed - ${mtime:-0}))" >>"$TAP_TMP/kills"
done
diag "per kill: registry offset, file size, registry age in ms:
$(cat "$TAP_TMP/kills")"
check "after each kill -9 the registry on disk is valid JSON ($valid of $KILLS)" test "$valid" = "$KILLS"

# The registry may be older than registry_flush only when nothing was acked
# in between, which cannot be while lines keep coming.
stale=$(awk -v max=$((1000 + SLACK * 1000)) '$3 > max' "$TAP_TMP/kills")
if [ -z "$stale" ]; then
	ok "at each kill the registry had been written within registry_flush (1 s + ${SLACK} s slack)"
else
	not_ok "at each kill the registry had been written within registry_flush" \
	       "REG EOF AGE_MS: $(cat "$TAP_TMP/kills")"
fi

wait "$WRITER"
agent_start final "$CONFIG"
final=$AGENT_PID
at_end() {
	[ "$(jq -r '.entries[0].offset' "$REG" 2>/dev/null)" = "$(stat -c %s "$LOG")" ]
}
check "the last agent catches up: the registry reaches the file's end" wait_until 60 at_end
agent_stop "$final"
check "it stops with status 0" test "$?" = 0

agent_consume "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" | cut -f 3- |
	jq -r '"\(.log.offset) \(.message | split(" ")[2])"' | sort -n >"$TAP_TMP/got"
lines=$((BATCHES * 100))
missing=$(comm -23 <(seq -f '%06g' 1 "$lines" | sort) <(awk '{ print $2 }' "$TAP_TMP/got" | sort -u))
if [ -z "$missing" ]; then
	ok "all $lines lines are in Kafka, through $KILLS kill -9"
else
	not_ok "all $lines lines are in Kafka, through $KILLS kill -9" \
	       "$(wc -l <<<"$missing") missing: $(head -n 5 <<<"$missing" | tr '\n' ' ')"
fi
check "offsets are the lines' byte offsets" \
	test "$(awk '{ print $1 }' "$TAP_TMP/got" | sort -nu)" = "$(agent_lines "$LOG" | cut -f 2 | sort -nu)"

# Duplicates: offsets seen more than once, and the copies beyond the first.
awk '{ n[$1]++ } END { for (o in n) if (n[o] > 1) print o, n[o] - 1 }' "$TAP_TMP/got" |
	sort -n >"$TAP_TMP/dups"
copies=$(awk '{ s += $2 } END { print s + 0 }' "$TAP_TMP/dups")
# Lines in the unflushed intervals [REG, EOF) of the kills.
allowed=$(agent_lines "$LOG" | cut -f 2 |
	awk 'NR == FNR { lo[NR] = $1; hi[NR] = $2; k = NR; next }
	     { for (i = 1; i <= k; i++) if ($1 >= lo[i] && $1 < hi[i]) n++ }
	     END { print n + 0 }' "$TAP_TMP/kills" -)
outside=$(awk 'NR == FNR { lo[NR] = $1; hi[NR] = $2; k = NR; next }
	       { ok = 0; for (i = 1; i <= k; i++) if ($1 >= lo[i] && $1 < hi[i]) ok = 1; if (!ok) print $1 }' \
	"$TAP_TMP/kills" "$TAP_TMP/dups")
if [ -z "$outside" ] && [ "$copies" -le "$allowed" ]; then
	ok "duplicates only from the unflushed intervals: $copies copies, at most $allowed allowed"
else
	not_ok "duplicates only from the unflushed intervals" \
	       "$copies copies, $allowed allowed; offsets outside: $(head -n 5 <<<"$outside" | tr '\n' ' ')
REG EOF AGE_MS: $(cat "$TAP_TMP/kills")"
fi

check "no sanitizer report in the agents' stderr" agent_sanitizer_clean
