#!/usr/bin/env bash
# aggregator_secrets.sh: mariadb.password_file and http.token_file, the
# secrets read from files instead of written in the configuration. The
# aggregator logs in with the password of a 0600 file (a trailing newline
# is not part of it) and counts; the token of a file guards /metrics. A file
# open to others, or beside a non-empty inline value, stops the program at
# start with FILE:LINE:COLUMN naming the key and status 2.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"
# shellcheck source=aggregator_lib.sh
. "$(dirname "$0")/aggregator_lib.sh"

plan 8
agent_require
agg_require

BROKERS=$LOGTALLY_KAFKA_BROKERS
TOPIC=$(agent_topic agg-secrets)
LINES=300
agg_gen "$LINES" 12 >"$TAP_TMP/lines.log"
agg_produce "$BROKERS" "$TOPIC" "$TAP_TMP/lines.log" ||
	bail_out "kcat could not produce the test lines"

# A file holding TEXT and a newline, with MODE.
secret() {   # FILE TEXT MODE
	printf '%s\n' "$2" >"$1"
	chmod "$3" "$1"
}

# CONFIG for a fresh database (DB) whose password comes from FILE, in a
# consumer group of its own.
file_config() {   # CONFIG FILE
	DB=$(agg_db secrets)
	agg_config "$1" "$BROKERS" "$TOPIC" "$DB"
	sed -i -e "s|^  password: .*|  password_file: $2|" \
	       -e "s/^  group: .*/  group: secrets-$$-$RANDOM/" "$1"
}

# --check-config of CONFIG: status 2 and FILE:LINE:COLUMN: KEY: MESSAGE,
# at the line of KEY's own name.
refused() {   # DESCRIPTION CONFIG KEY MESSAGE
	local out rc line
	out=$("$AGGREGATOR" --check-config --config "$2" 2>&1)
	rc=$?
	line=$(grep -n "^  ${3#*.}: " "$2" | cut -d: -f1)
	if [ "$rc" = 2 ] && [[ $out == "$2:$line:"[0-9]*": $3: $4"* ]]; then
		ok "$1"
	else
		not_ok "$1" "status $rc: $out"
	fi
}

secret "$TAP_TMP/db.pw" "$LOGTALLY_DB_PASSWORD" 0600
file_config "$TAP_TMP/pw.yml" "$TAP_TMP/db.pw"
agg_once pw "$TAP_TMP/pw.yml"
if [ "$AGG_RC" != 0 ]; then
	not_ok "with password_file (mode 0600) the lines count exactly" \
	       "status $AGG_RC: $(tail -n 20 "$TAP_TMP/pw.err")"
elif ! diffs=$(agg_exact "$DB" 5 "$TAP_TMP/lines.log"); then
	not_ok "with password_file (mode 0600) the lines count exactly" "$diffs"
else
	ok "with password_file (mode 0600) the lines count exactly"
fi

secret "$TAP_TMP/open.pw" "$LOGTALLY_DB_PASSWORD" 0644
file_config "$TAP_TMP/open.yml" "$TAP_TMP/open.pw"
refused "a password file others can read is refused" "$TAP_TMP/open.yml" \
	mariadb.password_file "'$TAP_TMP/open.pw' is open to others (mode 0644)"

file_config "$TAP_TMP/both.yml" "$TAP_TMP/db.pw"
sed -i "s|^  password_file: .*|&\n  password: inline|" "$TAP_TMP/both.yml"
refused "password and password_file at once are refused" "$TAP_TMP/both.yml" \
	mariadb.password_file "set password or password_file, not both"

file_config "$TAP_TMP/missing.yml" "$TAP_TMP/none.pw"
refused "a password file that is not there is refused" "$TAP_TMP/missing.yml" \
	mariadb.password_file "cannot read '$TAP_TMP/none.pw'"

# --- http.token_file --------------------------------------------------------

secret "$TAP_TMP/http.token" "t0ken-$RANDOM" 0600
file_config "$TAP_TMP/token.yml" "$TAP_TMP/db.pw"
sed -i "s|^  listen: .*|&\n  token_file: $TAP_TMP/http.token|" "$TAP_TMP/token.yml"
agg_start token "$TAP_TMP/token.yml"
PORT=$(agg_wait_port token) || bail_out "the aggregator logged no port: $(tail -n 20 "$TAP_TMP/token.err")"
code() {   # [CURL ARG...]
	curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"
}
without=$(code "http://127.0.0.1:$PORT/metrics")
with=$(code -H "Authorization: Bearer $(cat "$TAP_TMP/http.token")" "http://127.0.0.1:$PORT/metrics")
if [ "$without" = 401 ] && [ "$with" = 200 ]; then
	ok "token_file guards /metrics: 401 without the token, 200 with it"
else
	not_ok "token_file guards /metrics: 401 without the token, 200 with it" \
	       "without: $without, with: $with"
fi
agg_stop "$AGG_PID"
rc=$?
if [ "$rc" = 0 ]; then
	ok "the aggregator stops cleanly"
else
	not_ok "the aggregator stops cleanly" "status $rc: $(tail -n 20 "$TAP_TMP/token.err")"
fi

secret "$TAP_TMP/open.token" "t0ken" 0640
chmod o+w "$TAP_TMP/open.token"
sed -i "s|^  token_file: .*|  token_file: $TAP_TMP/open.token|" "$TAP_TMP/token.yml"
refused "a token file others can write is refused" "$TAP_TMP/token.yml" \
	http.token_file "'$TAP_TMP/open.token' is open to others (mode 0642)"

# A SIGTERM while the configuration still loads must not kill the program:
# main() blocks it first, and the loop's signalfd takes it. A password file
# that is a FIFO holds the load in open(2) until a writer comes; the
# signal arrives then. Blocked, it waits, the load goes on and refuses the
# FIFO (status 2); unblocked, it would kill the process (143).
fifo_config() {
	mkfifo -m 0600 "$TAP_TMP/pass.fifo"
	file_config "$TAP_TMP/fifo.yml" "$TAP_TMP/pass.fifo"
	"$AGGREGATOR" --config "$TAP_TMP/fifo.yml" >/dev/null 2>"$TAP_TMP/fifo.err" &
	local pid=$! rc
	# main() has blocked SIGTERM (bit 15 of SigBlk); then open(2) waits
	wait_until 10 grep -Eq '^SigBlk:.*[4-7c-f][0-9a-f]{3}$' "/proc/$pid/status" ||
		{ echo "it never blocked SIGTERM"; kill -9 "$pid"; return 1; }
	sleep 0.2
	kill -TERM "$pid"
	sleep 0.2
	echo secret >"$TAP_TMP/pass.fifo"
	wait "$pid"
	rc=$?
	[ "$rc" = 2 ] && grep -q "pass.fifo" "$TAP_TMP/fifo.err" ||
		{ echo "status $rc: $(cat "$TAP_TMP/fifo.err")"; return 1; }
}
check "a SIGTERM during the configuration's load waits for it (status 2 for a FIFO, not killed)" fifo_config
