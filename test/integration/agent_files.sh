#!/usr/bin/env bash
# agent_files.sh: 1,000 files in four folders. --once with max_open_files
# far below the number of files ships every line of every file exactly once
# (one source id per file) and records each file's end. Then, in stream
# mode with close_inactive: 1s, the agent resumes without sending anything
# again, closes the idle files, holds at most max_open_files of them open,
# and reopens each one when it grows: one line appended to every file
# arrives exactly once. Files with no line yet, and copies, hold no fd, so
# they cannot keep max_open_files from the files that have lines.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"

plan 12
agent_require

FILES=1000
PER_FILE=10
LOGS=$TAP_TMP/logs
DATA=$TAP_TMP/data
TOPIC=$(agent_topic agent-files)
CONFIG=$TAP_TMP/agent.yml

# Lines $1..$2 of every file: "f<folder>/<n> line <i> ...".
write_all() {
	awk -v dir="$LOGS" -v files="$FILES" -v a="$1" -v b="$2" 'BEGIN {
		for (f = 0; f < files; f++) {
			path = sprintf("%s/d%d/access-%04d.log", dir, f % 4, f)
			for (i = a; i <= b; i++)
				printf "f%04d line %02d GET /files/%d/%d HTTP/1.1 200\n", f, i, f, i >>path
			close(path)
		}
	}'
}

mkdir -p "$LOGS"/d{0,1,2,3}
write_all 1 "$PER_FILE"
agent_config "$CONFIG" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$DATA" "$LOGS/d?/access-*.log" \
	"max_open_files: 50"

start=$SECONDS
agent_once once "$CONFIG"
if [ "$AGENT_RC" = 0 ]; then
	ok "--once over $FILES files with max_open_files: 50 exits 0 (in $((SECONDS - start)) s)"
else
	not_ok "--once over $FILES files with max_open_files: 50 exits 0" \
	       "status $AGENT_RC: $(tail -n 20 "$TAP_TMP/once.err")"
fi

agent_consume "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" >"$TAP_TMP/got1"
if diff <(agent_lines "$LOGS"/d?/access-*.log | sort) <(agent_got "$TAP_TMP/got1" | sort) >"$TAP_TMP/diff"; then
	ok "every line of every file arrived exactly once, with its path and offset ($((FILES * PER_FILE)) lines)"
else
	not_ok "every line of every file arrived exactly once, with its path and offset" \
	       "$(wc -l <"$TAP_TMP/got1") messages; $(head -n 10 "$TAP_TMP/diff")"
fi

keys=$(cut -f 1 "$TAP_TMP/got1" | sort -u | wc -l)
pairs=$(paste <(cut -f 1 "$TAP_TMP/got1") <(cut -f 3- "$TAP_TMP/got1" | jq -r .log.file.path) | sort -u | wc -l)
check "one source id per file ($keys keys, $pairs key/path pairs)" test "$keys:$pairs" = "$FILES:$FILES"

# Every registry entry at its file's size.
registry_at_ends() {
	jq -r '.entries[] | "\(.path) \(.offset)"' "$DATA/registry.json" | sort >"$TAP_TMP/reg"
	for f in "$LOGS"/d?/access-*.log; do
		echo "$f $(stat -c %s "$f")"
	done | sort | diff - "$TAP_TMP/reg" | head -n 10
	return "${PIPESTATUS[2]}"
}
check "the registry holds $FILES entries, each at its file's end" registry_at_ends

# --- stream mode: idle files closed, reopened when they grow --------------
agent_config "$CONFIG" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$DATA" "$LOGS/d?/access-*.log" \
	"max_open_files: 100" "close_inactive: 1s" "http: {listen: '127.0.0.1:0'}"
agent_start stream "$CONFIG"
pid=$AGENT_PID
port=$(agent_http_port stream)
MAX_FDS=0

# Files of $LOGS the agent holds open now; keeps the maximum in MAX_FDS.
open_files() {
	local n
	n=$(find "/proc/$pid/fd" -lname "$LOGS/*" 2>/dev/null | wc -l)
	[ "$n" -gt "$MAX_FDS" ] && MAX_FDS=$n
	echo "$n"
}
metric_is() {
	open_files >/dev/null
	[ "$(agent_metric "$port" "$1")" = "$2" ]
}
# Every file known again, i.e. attached to its source (a gauge of open
# files alone can read 0 between two waves of identification).
all_known() {
	metric_is logtally_agent_files_attached "$FILES"
}
# No file open, by the gauge and by /proc, and still none a tick later: the
# two are read one after the other, and a wave of reopening can fall between.
all_closed() {
	metric_is logtally_agent_files_open 0 && [ "$(open_files)" = 0 ]
}
stays_closed() {
	all_closed && sleep 1.5 && all_closed
}
wait_until 60 all_known
if wait_until 30 stays_closed; then
	ok "with close_inactive: 1s every idle file is closed ($FILES followed, 0 open)"
else
	not_ok "with close_inactive: 1s every idle file is closed" \
	       "files $(agent_metric "$port" logtally_agent_files), open $(agent_metric "$port" logtally_agent_files_open), fds $(open_files)
$(grep -v "new file\|known file\|closed until" "$TAP_TMP/stream.err" | tail -n 20)"
fi
check "at most max_open_files were open at once (saw $MAX_FDS)" test "$MAX_FDS" -le 100

# Wait for one more line of each file while sampling the fds in use.
agent_consumer "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$TAP_TMP/got2"
write_all $((PER_FILE + 1)) $((PER_FILE + 1))
grown() {
	open_files >/dev/null
	agent_has "$TAP_TMP/got2" $((FILES * (PER_FILE + 1)))
}
start=$SECONDS
if wait_until 60 grown; then
	ok "one line appended to each closed file arrives, each file reopened (in $((SECONDS - start)) s)"
else
	not_ok "one line appended to each closed file arrives, each file reopened" \
	       "$(wc -l <"$TAP_TMP/got2") of $((FILES * (PER_FILE + 1))) lines; $(tail -n 5 "$TAP_TMP/stream.err")"
fi
check "still at most max_open_files open at once while reopening (saw $MAX_FDS)" test "$MAX_FDS" -le 100
if wait_until 30 metric_is logtally_agent_files_open 0 && [ "$(open_files)" = 0 ]; then
	ok "once read, the files are closed again after close_inactive"
else
	not_ok "once read, the files are closed again after close_inactive" \
	       "open $(agent_metric "$port" logtally_agent_files_open), fds $(open_files)"
fi

agent_stop "$pid"
rc=$?
agent_consume "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" >"$TAP_TMP/final"
if [ "$rc" = 0 ] &&
   diff <(agent_lines "$LOGS"/d?/access-*.log | sort) <(agent_got "$TAP_TMP/final" | sort) >"$TAP_TMP/diff"; then
	ok "over both runs every line arrived exactly once, and SIGTERM exits 0"
else
	not_ok "over both runs every line arrived exactly once, and SIGTERM exits 0" \
	       "status $rc; $(head -n 10 "$TAP_TMP/diff")"
fi

# --- files that cannot be read yet must not take the fds -------------------
# With max_open_files: 2, three empty files and a copy come before two
# files with lines (files are found in path order).
FEW=$TAP_TMP/few
TOPIC2=$(agent_topic agent-files-few)
mkdir -p "$FEW/logs"
: >"$FEW/logs/a1.log"
: >"$FEW/logs/a2.log"
: >"$FEW/logs/a3.log"
seq -f 'b line %g' 1 10 >"$FEW/logs/b.log"
cp "$FEW/logs/b.log" "$FEW/logs/b.log.0"
seq -f 'c line %g' 1 10 >"$FEW/logs/c.log"
agent_config "$FEW/agent.yml" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC2" "$FEW/data" "$FEW/logs/*.log*" \
	"max_open_files: 2" "shutdown_timeout: 2s"
AGENT_TIMEOUT=20 agent_once few "$FEW/agent.yml"
got=$(agent_consume "$LOGTALLY_KAFKA_BROKERS" "$TOPIC2" | cut -f 3- | jq -r .message | sort)
if [ "$AGENT_RC" = 0 ] && [ "$got" = "$(cat "$FEW/logs/b.log" "$FEW/logs/c.log" | sort)" ]; then
	ok "empty files and copies hold no fd: with max_open_files: 2 --once ships the 20 lines after them"
else
	not_ok "empty files and copies hold no fd: with max_open_files: 2 --once ships the 20 lines after them" \
	       "status $AGENT_RC (124: hung), $(wc -l <<<"$got") lines"
fi

check "no sanitizer report in the agents' stderr" agent_sanitizer_clean
