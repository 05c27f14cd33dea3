# agent_lib.sh: what the agent's integration tests (agent_*.sh) share.
# Source it after tap.sh. Every test uses topics of its own (on the shared
# broker, or on a private broker when it takes Kafka down) and folders under
# TAP_TMP; the oracle is always the files themselves.
#
#   agent_require                   bail out unless services and tools are there
#   agent_topic BASE                create a 4-partition topic on the shared
#                                   broker named BASE-<unique>; prints the name
#   agent_broker NAME:PARTITIONS    start a private devbroker (BROKER_BOOT,
#                                   BROKER_PID, BROKER_CTL); agent_broker_send
#                                   REQUEST talks to its control socket
#   agent_config FILE BROKERS TOPIC DATA_DIR PATTERN [LINE...]
#                                   write an agent configuration; LINEs are
#                                   extra top-level YAML lines
#   agent_start NAME CONFIG [ARG...]  the agent in the background (AGENT_PID),
#                                   stderr in $TAP_TMP/NAME.err
#   agent_once NAME CONFIG [ARG...] the agent with --once in the foreground;
#                                   its exit status in AGENT_RC
#   agent_stop PID                  SIGTERM, wait up to 30 s; returns its status
#   agent_consume BROKERS TOPIC     every message so far: KEY TAB PARTITION TAB VALUE
#   agent_consumer BROKERS TOPIC OUT  the same, in the background, as they come
#   agent_lines FILE...             PATH TAB OFFSET TAB LINE of each complete line
#   agent_got MESSAGES              PATH TAB OFFSET TAB MESSAGE of consumed values
#   agent_http_port NAME            the /metrics port agent NAME logged
#   agent_metric PORT NAME          the value of metric NAME on /metrics
#   agent_sanitizer_clean           no ASan/UBSan/LSan report in $TAP_TMP/*.err
#
# AGENT_WRAPPER, when set, prefixes agent_start and agent_once, e.g.
# AGENT_WRAPPER="valgrind --leak-check=full --error-exitcode=9" (by hand:
# the timed checks are not meant for valgrind's pace).
# shellcheck shell=bash

# shellcheck disable=SC2154 # set by tap.sh
AGENT=$top_builddir/logtally-agent
DEVBROKER=$top_builddir/logtally-devbroker
AGENT_HOST=agent-test-host
AGENT_TIMEOUT=120        # seconds any one agent run may take at most

agent_require() {
	local tool
	require_dev_env
	[ -n "${LOGTALLY_DEVBROKER_CONTROL:-}" ] ||
		bail_out "LOGTALLY_DEVBROKER_CONTROL is unset: eval \"\$(scripts/dev-services env)\""
	for tool in kcat jq perl curl; do
		command -v "$tool" >/dev/null || bail_out "$tool is missing"
	done
	if [ ! -x "$AGENT" ] || [ ! -x "$DEVBROKER" ]; then
		bail_out "build first: $AGENT or $DEVBROKER is missing"
	fi
}

agent_topic() {
	local name=$1-$$-$RANDOM
	"$DEVBROKER" --control "$LOGTALLY_DEVBROKER_CONTROL" --send "topic $name ${2:-4}" >/dev/null ||
		bail_out "cannot create topic $name on the shared broker"
	echo "$name"
}

agent_broker() {
	BROKER_CTL=$TAP_TMP/broker.ctl
	"$DEVBROKER" --brokers 1 --topic "$1" --control "$BROKER_CTL" \
		</dev/null >"$TAP_TMP/broker.out" 2>"$TAP_TMP/broker.err" &
	BROKER_PID=$!
	cleanup_add "kill_wait $BROKER_PID"
	wait_until 30 test -s "$TAP_TMP/broker.out" ||
		bail_out "the private devbroker did not start: $(cat "$TAP_TMP/broker.err")"
	# shellcheck disable=SC2034 # for the caller
	BROKER_BOOT=$(head -n 1 "$TAP_TMP/broker.out")
}

agent_broker_send() {
	"$DEVBROKER" --control "$BROKER_CTL" --send "$*" >/dev/null
}

agent_config() {
	local file=$1 brokers=$2 topic=$3 data=$4 pattern=$5
	shift 5
	cat >"$file" <<EOF
name: $AGENT_HOST
data_dir: $data
inputs:
  - paths: ['$pattern']
    fields: {service: test}
kafka:
  brokers: $brokers
  topic: $topic
EOF
	if [ $# -gt 0 ]; then
		printf '%s\n' "$@" >>"$file"
	fi
}

agent_start() {
	local name=$1 config=$2
	shift 2
	# shellcheck disable=SC2086 # the wrapper is a command line
	${AGENT_WRAPPER:-} "$AGENT" --config "$config" "$@" \
		</dev/null >"$TAP_TMP/$name.out" 2>"$TAP_TMP/$name.err" &
	AGENT_PID=$!
	cleanup_add "kill_wait $AGENT_PID"
}

agent_once() {
	local name=$1 config=$2
	shift 2
	# shellcheck disable=SC2086 # the wrapper is a command line
	timeout "$AGENT_TIMEOUT" ${AGENT_WRAPPER:-} "$AGENT" --config "$config" --once "$@" \
		</dev/null >"$TAP_TMP/$name.out" 2>"$TAP_TMP/$name.err"
	# shellcheck disable=SC2034 # for the caller
	AGENT_RC=$?
}

agent_stop() {
	kill -TERM "$1" 2>/dev/null
	wait_until 30 eval "! kill -0 $1 2>/dev/null" || return 124
	wait "$1"
}

agent_consume() {
	timeout 60 kcat -b "$1" -C -t "$2" -o beginning -e -q -f '%k\t%p\t%s\n'
}

agent_consumer() {
	kcat -b "$1" -C -t "$2" -o beginning -q -u -f '%k\t%p\t%s\n' \
		</dev/null >"$3" 2>"$3.kcat-err" &
	cleanup_add "kill_wait $!"
}

# True when file $1 has at least $2 lines.
agent_has() {
	[ "$(wc -l <"$1")" -ge "$2" ]
}

agent_lines() {
	perl -ne 'if (/\n\z/) { my $l = $_; $l =~ s/\r?\n\z//; print "$ARGV\t", $o + 0, "\t$l\n" }
		  $o += length; $o = 0 if eof' "$@"
}

agent_got() {
	cut -f 3- "$1" | jq -r '"\(.log.file.path)\t\(.log.offset)\t\(.message)"'
}

agent_http_port() {
	wait_until 30 grep -qs 'http: .* on port [0-9]' "$TAP_TMP/$1.err" || return 1
	sed -n 's/.*http: .* on port \([0-9]*\).*/\1/p' "$TAP_TMP/$1.err" | head -n 1
}

agent_metric() {
	curl -s --max-time 5 "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'
}

# Whether the agent is built with AddressSanitizer (RSS means nothing then).
agent_sanitized() {
	ldd "$AGENT" 2>/dev/null | grep -q libasan
}

agent_sanitizer_clean() {
	! grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$TAP_TMP"/*.err
}
