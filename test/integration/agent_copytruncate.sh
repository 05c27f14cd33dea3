#!/usr/bin/env bash
# agent_copytruncate.sh: a real web server under load, rotated by a real
# logrotate with copytruncate (issue 10). The test starts Debian's nginx in a
# folder of its own, drives tens of thousands of requests at it with ab,
# and runs `logrotate -f` six times while the requests pour in: numbered
# copies, compress + delaycompress (a copy later gzipped into an excluded
# .gz), and dateext. The agent follows access.log* (exclude *.gz) into an
# 8-partition topic and a streaming aggregator counts it into a database of
# the test's own. In the end, nothing may be counted twice: MariaDB's status
# hits never exceed what nginx served, and they equal the lines shipped,
# each line (named by nginx's $request_id) shipped once, every line the
# files hold among them.
#
# What copytruncate loses. logrotate copies access.log, then truncates it;
# the lines nginx appends between the copy and the truncation are in no file
# afterwards. The agent counts those it read from the original before the
# truncation and cannot count the others, so neither "counted == served"
# nor "counted == lines in the files" holds under load. What does hold,
# exactly: counted == the distinct lines shipped (by request id), and
#   lines the files hold at the end (gzipped copies included)
#     <= counted <= requests nginx served (stub_status).
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"
# shellcheck source=aggregator_lib.sh
. "$(dirname "$0")/aggregator_lib.sh"

plan 10
agent_require
agg_require

# nginx and logrotate live in /usr/sbin, which a user's PATH may not hold.
find_tool() {
	command -v "$1" || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; }
}
NGINX=$(find_tool nginx) || bail_out "nginx is missing (scripts/install-deps --tests)"
LOGROTATE=$(find_tool logrotate) || bail_out "logrotate is missing (scripts/install-deps --tests)"
for tool in ab gzip; do
	command -v "$tool" >/dev/null || bail_out "$tool is missing (scripts/install-deps --tests)"
done

BATCH=12000             # requests for a 200 per rotation, ab -c 8
BATCH_404=3000          # and for a 404, beside them
ROTATIONS=(numbered delaycompress numbered dateext numbered delaycompress)
BROKERS=$LOGTALLY_KAFKA_BROKERS
NGX=$TAP_TMP/nginx      # nginx's prefix: configuration, pid, error log, temp
LOGS=$NGX/private/logs  # private/ is 0700: workers could not reopen logs
started=$SECONDS

# --- a private nginx --------------------------------------------------------
mkdir -p "$NGX/tmp" "$LOGS"
chmod 0700 "$NGX/private"

# nginx_conf PORT: the whole configuration, no path outside $NGX. Each line
# is combined plus nginx's $request_id, an extra field the parser takes and
# the test uses to tell lines apart. /ping and /status are not logged.
nginx_conf() {
	cat >"$NGX/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $NGX/nginx.pid;
lock_file $NGX/nginx.lock;
error_log $NGX/error.log;
events { worker_connections 256; }
http {
	client_body_temp_path $NGX/tmp/body;
	proxy_temp_path $NGX/tmp/proxy;
	fastcgi_temp_path $NGX/tmp/fastcgi;
	uwsgi_temp_path $NGX/tmp/uwsgi;
	scgi_temp_path $NGX/tmp/scgi;
	log_format ids '\$remote_addr - \$remote_user [\$time_local] "\$request" '
		       '\$status \$body_bytes_sent "\$http_referer" "\$http_user_agent" \$request_id';
	access_log $LOGS/access.log ids;
	server {
		listen 127.0.0.1:$1;
		location = /ping { access_log off; return 204; }
		location = /status { access_log off; stub_status; }
		location /missing { return 404; }
		location / { return 200 "ok\n"; }
	}
}
EOF
}

nginx_up() {
	[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$PORT/ping")" = 204 ]
}

# Another program may take the free port first: try a few.
NGINX_PID=
for _ in 1 2 3; do
	PORT=$("$DEVBROKER" --free-port) || bail_out "no free port"
	nginx_conf "$PORT"
	"$NGINX" -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" \
		</dev/null >"$NGX/nginx.out" 2>&1 &
	NGINX_PID=$!
	if wait_until 10 nginx_up; then
		break
	fi
	kill_wait "$NGINX_PID"
	NGINX_PID=
done
[ -n "$NGINX_PID" ] ||
	bail_out "nginx did not start: $(cat "$NGX/nginx.out" "$NGX/error.log" 2>/dev/null)"
cleanup_add "kill_wait $NGINX_PID"

# The master holds no file of the system's nginx (/var/log/nginx,
# /var/lib/nginx, /run): its files are in $NGX. (It also holds what it
# inherited from the test harness, such as the test's log.)
outside=$(find "/proc/$NGINX_PID/fd" -type l -printf '%l\n' 2>/dev/null |
	  grep -e '^/var/' -e '^/run/' || true)
if [ -z "$outside" ] && [ "$(cat "$NGX/nginx.pid" 2>/dev/null)" = "$NGINX_PID" ] &&
   [ -f "$LOGS/access.log" ]; then
	ok "nginx serves 127.0.0.1:$PORT from its own folder (pid file, error log, temp paths)"
else
	not_ok "nginx serves 127.0.0.1:$PORT from its own folder (pid file, error log, temp paths)" \
	       "files outside: $outside"
fi

# The number of requests nginx has handled, from stub_status.
nginx_requests() {
	curl -s --max-time 5 "http://127.0.0.1:$PORT/status" | awk 'NR == 3 { print $3 }'
}

# --- the agent and the aggregator -----------------------------------------
TOPIC=$(agent_topic agent-copytruncate 8)
DB=$(agg_db copytruncate)
cleanup_add "agg_mariadb -e 'DROP DATABASE IF EXISTS $DB'"
agent_config "$TAP_TMP/agent.yml" "$BROKERS" "$TOPIC" "$TAP_TMP/data" "$LOGS/access.log*" \
	"scan_interval: 1s" "http: {listen: '127.0.0.1:0'}"
sed -i "s|^  - paths: .*|&\n    exclude: ['*.gz']|" "$TAP_TMP/agent.yml"
agg_config "$TAP_TMP/agg.yml" "$BROKERS" "$TOPIC" "$DB"

# Consumers beside the producer: the dev broker keeps ~5 MB per partition.
agent_consumer "$BROKERS" "$TOPIC" "$TAP_TMP/got"
agg_start agg "$TAP_TMP/agg.yml"
agent_start agent "$TAP_TMP/agent.yml"
AGENT=$AGENT_PID
APORT=$(agent_http_port agent) || bail_out "the agent logged no http port: $(tail -n 5 "$TAP_TMP/agent.err")"

# --- load and rotations -----------------------------------------------------
# rotation_conf KIND: a logrotate configuration of its own per kind. rotate
# 50 keeps every copy, so that the files hold all they ever held; the
# numbered and the .gz copies never take each other's names (delaycompress
# gzips .1 straight to .2.gz), and dateext names are one a second.
rotation_conf() {
	local extra
	case $1 in
	numbered) extra='nocompress' ;;
	delaycompress) extra='compress
	delaycompress' ;;
	dateext) extra='nocompress
	dateext
	dateformat -%Y%m%d-%s' ;;
	esac
	cat >"$TAP_TMP/logrotate-$1.conf" <<EOF
$LOGS/access.log {
	copytruncate
	rotate 50
	missingok
	$extra
}
EOF
}

# load NAME: one batch of requests in the background (LOAD_PIDS), 200s and
# 404s at once, ab's report in $TAP_TMP/ab-NAME-*.
load() {
	ab -q -k -c 8 -n "$BATCH" "http://127.0.0.1:$PORT/shop?q=%23copytruncate" \
		</dev/null >"$TAP_TMP/ab-$1-200" 2>&1 &
	LOAD_PIDS="$!"
	ab -q -k -c 2 -n "$BATCH_404" "http://127.0.0.1:$PORT/missing/page" \
		</dev/null >"$TAP_TMP/ab-$1-404" 2>&1 &
	LOAD_PIDS="$LOAD_PIDS $!"
}

# True while one of the load's ab runs is still sending.
loading() {
	local pid
	for pid in $LOAD_PIDS; do
		kill -0 "$pid" 2>/dev/null && return 0
	done
	return 1
}

# Wait (polling every 10 ms) until access.log holds $1 bytes or the load is over.
wait_size() {
	while [ "$(stat -c %s "$LOGS/access.log" 2>/dev/null || echo 0)" -lt "$1" ] && loading; do
		sleep 0.01
	done
}

# The agent is idle: all it read acknowledged, nothing queued, and nothing
# more read for 1 s (a rescan of the glob).
agent_quiet() {
	local read acked queued
	read=$(agent_metric "$APORT" logtally_agent_lines_read_total)
	acked=$(agent_metric "$APORT" logtally_agent_lines_acked_total)
	queued=$(agent_metric "$APORT" logtally_agent_queue_messages)
	[ -n "$acked" ] && [ "$read" = "$acked" ] && [ "$queued" = 0 ] &&
		[ "$read" = "${QUIET_READ:-}" ] && return 0
	QUIET_READ=$read
	sleep 1
	return 1
}

before=$(nginx_requests)
# A server that was running before: the agent follows a non-empty access.log.
ab -q -n 100 -c 1 "http://127.0.0.1:$PORT/warm-up" </dev/null >"$TAP_TMP/ab-warm-200" 2>&1
wait_until 30 agent_quiet
rotated=0
under_load=0
rot_errors=
# Each rotation falls about a quarter into a batch: lines are being written,
# and read by the agent, while logrotate copies and truncates. Between
# batches the agent catches up, as it would between daily rotations; a
# rotation every few hundred milliseconds would gzip copies (delaycompress)
# before any agent could have read them.
for ((r = 0; r < ${#ROTATIONS[@]}; r++)); do
	kind=${ROTATIONS[r]}
	rotation_conf "$kind"
	load "$r"
	wait_size $((BATCH * 150 / 4))
	loading && under_load=$((under_load + 1))
	if "$LOGROTATE" -s "$TAP_TMP/logrotate.state" -f "$TAP_TMP/logrotate-$kind.conf" \
		>"$TAP_TMP/logrotate-$r.out" 2>&1; then
		rotated=$((rotated + 1))
	else
		rot_errors="$rot_errors
rotation $r ($kind): $(cat "$TAP_TMP/logrotate-$r.out")"
	fi
	# shellcheck disable=SC2086 # a list of pids
	wait $LOAD_PIDS
	wait_until 30 agent_quiet
done
load last                               # after the last rotation too
# shellcheck disable=SC2086
wait $LOAD_PIDS
after=$(nginx_requests)
load_seconds=$((SECONDS - started))

# What ab saw: completed requests, and failures of any kind.
ab_sum() {   # FIELD
	cat "$TAP_TMP"/ab-*-* | awk -v f="$1" -F': *' '$1 == f { s += $2 } END { print s + 0 }'
}
# The requests nginx served, by its own count: the /status request of
# "after" is counted in it, that of "before" is not.
SERVED=$((after - before - 1))
want=$((100 + (${#ROTATIONS[@]} + 1) * (BATCH + BATCH_404)))
if [ "$SERVED" = "$want" ] && [ "$(ab_sum 'Complete requests')" = "$want" ] &&
   [ "$(ab_sum 'Failed requests')" = 0 ]; then
	ok "nginx served $SERVED requests, ${load_seconds} s with the pauses (ab: none failed)"
else
	not_ok "nginx served $want requests (ab: none failed)" \
	       "nginx: $SERVED; ab: $(ab_sum 'Complete requests') complete, $(ab_sum 'Failed requests') failed"
fi

ls "$LOGS" >"$TAP_TMP/files"
if [ "$rotated" = "${#ROTATIONS[@]}" ] && [ "$under_load" = "${#ROTATIONS[@]}" ] &&
   grep -q '^access\.log\.[0-9]*\.gz$' "$TAP_TMP/files" &&
   grep -q '^access\.log-[0-9]*-[0-9]*$' "$TAP_TMP/files"; then
	ok "logrotate -f copytruncate ran $rotated times, each while ab was sending (numbered, delaycompress, dateext)"
else
	not_ok "logrotate -f copytruncate ran ${#ROTATIONS[@]} times, each while ab was sending (numbered, delaycompress, dateext)" \
	       "$rotated rotated, $under_load under load; files: $(tr '\n' ' ' <"$TAP_TMP/files")$rot_errors"
fi

# --- the end: wait for the agent, then for the aggregator -----------------------
# Every line of every file, gzipped copies included: the lines nginx's log
# still holds.
all_lines() {
	local f
	for f in "$LOGS"/access.log*; do
		case $f in
		*.gz) gzip -dc "$f" ;;
		*) cat "$f" ;;
		esac
	done
}
all_lines >"$TAP_TMP/in-files"
IN_FILES=$(wc -l <"$TAP_TMP/in-files")

# The agent has read all it will read: quiet, with at least the files' lines.
agent_settled() {
	agent_quiet && [ "$QUIET_READ" -ge "$IN_FILES" ]
}
settled=no
wait_until 60 agent_settled && settled=yes
agent_stop "$AGENT"
status=$?
if [ "$settled" = yes ] && [ "$status" = 0 ]; then
	ok "the agent shipped all it read ($QUIET_READ lines) and stopped with status 0"
else
	not_ok "the agent shipped all it read and stopped with status 0" \
	       "settled: $settled (read $QUIET_READ, files $IN_FILES); status $status
$(grep -v Kafka "$TAP_TMP/agent.err" | tail -n 20)"
fi

# The aggregator has counted up to the topic's end, and kcat has it all.
MESSAGES=$(agg_watermarks "$BROKERS" "$TOPIC" | awk '{ s += $2 } END { print s + 0 }')
if wait_until 60 agg_caught_up "$DB" "$BROKERS" "$TOPIC" &&
   wait_until 30 agent_has "$TAP_TMP/got" "$MESSAGES"; then
	ok "the aggregator counted every one of the topic's $MESSAGES messages"
else
	not_ok "the aggregator counted every one of the topic's $MESSAGES messages" \
	       "stored $(agg_stored "$DB" "$TOPIC"); kcat $(wc -l <"$TAP_TMP/got")
$(tail -n 20 "$TAP_TMP/agg.err")"
fi
agg_stop "$AGG_PID"

# --- the counts -----------------------------------------------------------------
# The topic as "KEY TAB OFFSET TAB STATUS TAB REQUEST_ID", one row per
# distinct source and offset (a resend of one line is the aggregator's to
# skip, not a second line).
cut -f 1 "$TAP_TMP/got" >"$TAP_TMP/keys"
cut -f 3- "$TAP_TMP/got" | jq -r '"\(.log.offset)\t\(.message)"' |
	awk -F'\t' '{ n = split($2, w, " "); print $1 "\t" w[9] "\t" w[n] }' >"$TAP_TMP/rest"
paste "$TAP_TMP/keys" "$TAP_TMP/rest" | sort -u >"$TAP_TMP/shipped"
# A line of nginx's is its request id; its status is the 9th word.
cut -f 4 "$TAP_TMP/shipped" | sort | uniq -d >"$TAP_TMP/twice"
SHIPPED=$(cut -f 4 "$TAP_TMP/shipped" | sort -u | wc -l)
awk '{ print $NF }' "$TAP_TMP/in-files" | sort -u >"$TAP_TMP/file-ids"
cut -f 4 "$TAP_TMP/shipped" | sort -u >"$TAP_TMP/shipped-ids"
MISSING=$(comm -23 "$TAP_TMP/file-ids" "$TAP_TMP/shipped-ids" | wc -l)
COUNTED=$(agg_total "$DB" status)
diag "served $SERVED; in the files $IN_FILES (lost between copy and truncate: $((SERVED - IN_FILES)));" \
     "messages $MESSAGES, distinct lines shipped $SHIPPED; counted in MariaDB $COUNTED"

# The headline: no line counted twice, whatever the interleaving.
if [ "$COUNTED" -le "$SERVED" ]; then
	ok "no line counted twice: $COUNTED counted <= $SERVED served"
else
	not_ok "no line counted twice: $COUNTED counted <= $SERVED served" \
	       "$((COUNTED - SERVED)) more than nginx served"
fi

if [ ! -s "$TAP_TMP/twice" ]; then
	ok "no line shipped under two sources or offsets ($SHIPPED distinct lines)"
else
	not_ok "no line shipped under two sources or offsets ($SHIPPED distinct lines)" \
	       "$(wc -l <"$TAP_TMP/twice") lines twice; sources and offsets of one:
$(grep -F "$(head -n 1 "$TAP_TMP/twice")" "$TAP_TMP/shipped")
$(grep -E 'same content|truncated|original|copy' "$TAP_TMP/agent.err" | head -n 20)"
fi

if [ "$MISSING" = 0 ] && [ "$IN_FILES" -le "$COUNTED" ]; then
	ok "every line the files hold ($IN_FILES) was shipped and counted"
else
	not_ok "every line the files hold ($IN_FILES) was shipped and counted" \
	       "$MISSING not in the topic, $COUNTED counted"
fi

# Exact: MariaDB's hits per status are the distinct lines shipped.
cut -f 3,4 "$TAP_TMP/shipped" | sort -u | cut -f 1 | sort | uniq -c |
	awk '{ print $2 "\t" $1 }' | LC_ALL=C sort >"$TAP_TMP/want-status"
agg_counts "$DB" status >"$TAP_TMP/got-status"
if diff "$TAP_TMP/want-status" "$TAP_TMP/got-status" >"$TAP_TMP/diff"; then
	ok "status hits equal the distinct lines shipped, per status: $(tr '\t\n' '= ' <"$TAP_TMP/got-status")"
else
	not_ok "status hits equal the distinct lines shipped, per status" "$(cat "$TAP_TMP/diff")"
fi

check "no sanitizer report in the agent's or the aggregator's stderr" agg_sanitizer_clean
diag "$((SECONDS - started)) s"
