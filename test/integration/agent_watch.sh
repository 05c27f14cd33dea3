#!/usr/bin/env bash
# agent_watch.sh: in stream mode both watch backends notice news within a
# couple of seconds: a line appended to a followed file, a new file, a new
# folder matching a folder wildcard, a file renamed into the glob. With
# inotify the scan interval is a minute, so only inotify can explain it;
# with LOGTALLY_AGENT_POLL=1 the agent holds no inotify fd, says it polls,
# and finds new files by its scans (scan_interval: 1s) and appends by fstat.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"

plan 13
agent_require

NOTICE=3        # seconds: "within a couple of seconds", counted in whole seconds

# Whether the consumer output $1 holds message text $2.
has_message() {
	grep -qF "\"message\":\"$2\"" "$1"
}

# Run the checks for backend $1 (inotify or poll) with scan_interval $2.
backend() {
	local name=$1 dir=$TAP_TMP/$1 topic pid inotify_fds
	mkdir -p "$dir/logs/site1" "$dir/outside"
	topic=$(agent_topic "agent-watch-$name")
	agent_config "$dir/agent.yml" "$LOGTALLY_KAFKA_BROKERS" "$topic" "$dir/data" \
		"$dir/logs/*/*.log" "scan_interval: $2"
	echo "$name first line" >"$dir/logs/site1/access.log"
	agent_consumer "$LOGTALLY_KAFKA_BROKERS" "$topic" "$dir/got"
	if [ "$name" = poll ]; then
		LOGTALLY_AGENT_POLL=1 agent_start "$name" "$dir/agent.yml"
	else
		agent_start "$name" "$dir/agent.yml"
	fi
	pid=$AGENT_PID
	wait_until 30 has_message "$dir/got" "$name first line" ||
		bail_out "$name: the agent did not ship the first line: $(tail -n 5 "$TAP_TMP/$name.err")"

	inotify_fds=$(find "/proc/$pid/fd" -lname 'anon_inode:inotify' | wc -l)
	if [ "$name" = poll ]; then
		if [ "$inotify_fds" = 0 ] && grep -q 'watch: polling' "$TAP_TMP/$name.err"; then
			ok "poll: LOGTALLY_AGENT_POLL=1 runs without inotify, and says it polls"
		else
			not_ok "poll: LOGTALLY_AGENT_POLL=1 runs without inotify, and says it polls" \
			       "$inotify_fds inotify fds; $(head -n 5 "$TAP_TMP/$name.err")"
		fi
	else
		check "inotify: the agent watches with inotify" test "$inotify_fds" = 1
	fi

	echo "$name appended line" >>"$dir/logs/site1/access.log"
	check "$name: a line appended is shipped within $NOTICE s" \
		wait_until "$NOTICE" has_message "$dir/got" "$name appended line"

	echo "$name new file line" >"$dir/logs/site1/other.log"
	check "$name: a new file is noticed and shipped within $NOTICE s" \
		wait_until "$NOTICE" has_message "$dir/got" "$name new file line"

	mkdir "$dir/logs/site2"
	echo "$name new folder line" >"$dir/logs/site2/access.log"
	check "$name: a file in a new folder is noticed and shipped within $NOTICE s" \
		wait_until "$NOTICE" has_message "$dir/got" "$name new folder line"

	echo "$name renamed in line" >"$dir/outside/x.log"
	mv "$dir/outside/x.log" "$dir/logs/site1/moved.log"
	check "$name: a file renamed into the glob is noticed and shipped within $NOTICE s" \
		wait_until "$NOTICE" has_message "$dir/got" "$name renamed in line"

	agent_stop "$pid"
	check "$name: SIGTERM exits 0, and each line was shipped once" \
		test "$?:$(agent_consume "$LOGTALLY_KAFKA_BROKERS" "$topic" | wc -l)" = 0:5
}

backend inotify 1m
backend poll 1s

check "no sanitizer report in the agents' stderr" agent_sanitizer_clean
