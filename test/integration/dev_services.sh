#!/usr/bin/env bash
# dev_services.sh: scripts/dev-services runs a private instance beside the
# shared one: up (twice), status, env whose values reach MariaDB over the
# socket and TCP and Kafka with topic weblogs, down (twice), and afterwards no
# process, pid file or socket of that instance is left. A second instance in a
# folder too deep for unix socket paths must put its sockets under /tmp.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"

DEV_SERVICES=$top_srcdir/scripts/dev-services
export LOGTALLY_DEVBROKER=$top_builddir/logtally-devbroker

plan 17

# dev-services for the private instance in folder $1, with no stdin.
dev() {
	local dir=$1
	shift
	LOGTALLY_DEV_DIR=$dir "$DEV_SERVICES" "$@" </dev/null
}

db() {
	mariadb --no-defaults --connect-timeout=10 --user="$LOGTALLY_DB_USER" \
		--password="$LOGTALLY_DB_PASSWORD" --batch --skip-column-names "$@"
}

# Pids whose command line mentions $1 (read from /proc, so no helper process
# that has $1 in its own arguments can be counted).
pids_mentioning() {
	local dir args
	for dir in /proc/[0-9]*; do
		mapfile -d '' -t args 2>/dev/null <"$dir/cmdline" || continue
		if [[ "${args[*]}" == *"$1"* ]]; then
			echo "${dir#/proc/}"
		fi
	done
}

# Pid files and sockets left in the folders $@.
leftovers() {
	find "$@" \( -name '*.pid' -o -type s \) -print 2>/dev/null || true
}

[ -x "$LOGTALLY_DEVBROKER" ] || bail_out "$LOGTALLY_DEVBROKER is missing: run make first"
command -v kcat >/dev/null || bail_out "kcat is missing: apt-get install kcat"

DIR=$TAP_TMP/dev
cleanup_add "dev '$DIR' down"

out=$(dev "$DIR" up 2>&1)
if [[ $out == *"mariadb: started"* && $out == *"devbroker: started"* ]]; then
	ok "up starts mariadb and the devbroker"
else
	not_ok "up starts mariadb and the devbroker" "$out"
	bail_out "the dev services do not start"
fi
pids_before=$(cat "$DIR"/*.pid)

out=$(dev "$DIR" up 2>&1)
if [ "$(grep -c 'already running' <<<"$out")" = 2 ] && [ "$(cat "$DIR"/*.pid)" = "$pids_before" ]; then
	ok "a second up says both are already running and starts nothing"
else
	not_ok "a second up says both are already running and starts nothing" "$out"
fi

out=$(dev "$DIR" status 2>&1)
if [[ $out == *"mariadb: running"* && $out == *"devbroker: running"* ]]; then
	ok "status exits 0 and reports both running"
else
	not_ok "status exits 0 and reports both running" "$out"
fi

# shellcheck disable=SC2153 # the variables come from eval
if env_text=$(dev "$DIR" env) && eval "$env_text" &&
   [ "$LOGTALLY_DEV_DIR" = "$DIR" ] && [ "$LOGTALLY_DB_HOST" = 127.0.0.1 ] &&
   [ "$LOGTALLY_KAFKA_TOPIC" = weblogs ] && [ -S "$LOGTALLY_DB_SOCKET" ] &&
   [ -S "$LOGTALLY_DEVBROKER_CONTROL" ] && [ -n "$LOGTALLY_KAFKA_BROKERS" ] &&
   [ -n "$LOGTALLY_DB_PORT" ] && [ "$LOGTALLY_DB_NAME" = logtally ] &&
   [ -s "$LOGTALLY_DB_TLS_CA" ] && [ -s "$LOGTALLY_DB_TLS_CERT" ] && [ -s "$LOGTALLY_DB_TLS_KEY" ]; then
	ok "env prints the variables of this instance"
else
	not_ok "env prints the variables of this instance" "${env_text:-}"
fi

out=$(db --socket="$LOGTALLY_DB_SOCKET" -e 'SELECT CURRENT_USER(), DATABASE()' "$LOGTALLY_DB_NAME" 2>&1)
if [ "$out" = "$(printf 'logtally@localhost\tlogtally')" ]; then
	ok "user logtally reaches database logtally over the unix socket"
else
	not_ok "user logtally reaches database logtally over the unix socket" "$out"
fi

out=$(db --protocol=TCP --host="$LOGTALLY_DB_HOST" --port="$LOGTALLY_DB_PORT" \
	 -e 'SELECT CURRENT_USER(), DATABASE()' "$LOGTALLY_DB_NAME" 2>&1)
if [ "$out" = "$(printf 'logtally@127.0.0.1\tlogtally')" ]; then
	ok "user logtally reaches database logtally over TCP 127.0.0.1"
else
	not_ok "user logtally reaches database logtally over TCP 127.0.0.1" "$out"
fi

check "user logtally may create, use and drop a logtally_* database" \
	db --socket="$LOGTALLY_DB_SOCKET" -e 'CREATE DATABASE logtally_devtest;
		CREATE TABLE logtally_devtest.t (v VARCHAR(512) PRIMARY KEY);
		INSERT INTO logtally_devtest.t VALUES ("añonuevo");
		DROP DATABASE logtally_devtest'

out=$(timeout 60 kcat -L -b "$LOGTALLY_KAFKA_BROKERS" -t weblogs -m 15 2>&1)
if [[ $out == *'topic "weblogs" with 4 partitions'* ]]; then
	ok "kcat lists topic weblogs with 4 partitions"
else
	not_ok "kcat lists topic weblogs with 4 partitions" "$out"
fi

a1=$(dev "$DIR" broker-down all 2>&1)
a2=$(dev "$DIR" broker-up all 2>&1)
if [ "$a1" = "ok down all" ] && [ "$a2" = "ok up all" ]; then
	ok "broker-down and broker-up reach the devbroker's control socket"
else
	not_ok "broker-down and broker-up reach the devbroker's control socket" "$a1 / $a2"
fi

out=$(dev "$DIR" down 2>&1)
if [[ $out == *"mariadb: stopped"* && $out == *"devbroker: stopped"* ]]; then
	ok "down stops both"
else
	not_ok "down stops both" "$out"
fi
check "a second down is harmless" dev "$DIR" down

if ! out=$(dev "$DIR" status 2>&1); then
	ok "status exits non-zero once they are down"
else
	not_ok "status exits non-zero once they are down" "$out"
fi

left=$(pids_mentioning "$DIR"; pids_mentioning "$LOGTALLY_DEVBROKER_CONTROL")
if [ -z "$left" ]; then
	ok "no process of the instance is left"
else
	not_ok "no process of the instance is left" "$(ps -o pid,args -p "${left//$'\n'/,}")"
fi

left=$(leftovers "$DIR")
if [ -z "$left" ]; then
	ok "no pid file or socket of the instance is left"
else
	not_ok "no pid file or socket of the instance is left" "$left"
fi

# A folder as deep as a CI checkout's can be: the sockets go to /tmp.
DEEP=$TAP_TMP/$(printf 'deep%.0s' {1..25})/dev
cleanup_add "dev '$DEEP' down"
if dev "$DEEP" up >"$TAP_TMP/deep.out" 2>&1 && eval "$(dev "$DEEP" env)" &&
   [[ $LOGTALLY_DB_SOCKET == /tmp/logtally-dev-* ]] &&
   db --socket="$LOGTALLY_DB_SOCKET" -e 'SELECT 1' "$LOGTALLY_DB_NAME" >/dev/null; then
	ok "a folder too deep for socket paths gets its sockets under /tmp"
else
	not_ok "a folder too deep for socket paths gets its sockets under /tmp" \
	       "$(cat "$TAP_TMP/deep.out")"
fi

check "the deep instance stops" dev "$DEEP" down
sock_dir=$(dirname "$LOGTALLY_DB_SOCKET")
left=$(pids_mentioning "$DEEP"; pids_mentioning "$sock_dir"; leftovers "$DEEP")
if [ -z "$left" ] && [ ! -e "$sock_dir" ]; then
	ok "the deep instance leaves no process, pid file, socket or /tmp folder"
else
	not_ok "the deep instance leaves no process, pid file, socket or /tmp folder" \
	       "$left $(ls -d "$sock_dir" 2>&1)"
fi
