# tap.sh: what every integration test (test/integration/*.sh) shares. Source
# it first; it prints TAP for the automake driver and cleans up on any exit.
#
#   . "$(dirname "$0")/tap.sh"
#   plan 3                          "1..3"; call once, before any result
#   ok "it starts"                  "ok 1 - it starts"
#   not_ok "it stops" "$details"    "not ok 2 - it stops", details as "# " lines
#   check "it answers" CMD ARGS...  ok when CMD exits 0, else not_ok with its output
#   diag "text"                     a "# text" comment line
#   bail_out "why"                  "Bail out! why" and exit 1: the test fails
#   require_dev_env                 bail out unless the dev services' variables
#                                   are set: missing services fail, never skip
#   cleanup_add 'CMD'               eval CMD at exit, last added first, even
#                                   when the test fails or is killed
#   wait_until SECONDS CMD ARGS...  poll CMD every 0.1 s; 1 when time runs out
#   kill_wait PID                   SIGTERM, up to 20 s to exit, then SIGKILL;
#                                   for a background process: start it with
#                                   its output in files (the TAP driver waits
#                                   for every holder of the test's stdout) and
#                                   cleanup_add "kill_wait $!"
#   TAP_TMP                         a private temporary folder, removed at exit
#   $top_srcdir, $top_builddir      absolute; the Makefile exports both, and by
#                                   hand they default to this checkout
#
# The exit status is 0 only when every planned test ran and passed.
# shellcheck shell=bash

TAP_PLANNED=0
TAP_RUN=0
TAP_FAILED=0
TAP_CLEANUPS=()

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir

plan() {
	TAP_PLANNED=$1
	echo "1..$1"
}

diag() {
	local line
	while IFS= read -r line; do
		echo "# $line"
	done <<<"$*"
}

ok() {
	TAP_RUN=$((TAP_RUN + 1))
	echo "ok $TAP_RUN - $1"
}

not_ok() {
	TAP_RUN=$((TAP_RUN + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok $TAP_RUN - $1"
	if [ -n "${2:-}" ]; then
		diag "$2"
	fi
}

check() {
	local description=$1 output
	shift
	if output=$("$@" 2>&1); then
		ok "$description"
	else
		not_ok "$description" "$* failed: $output"
	fi
}

bail_out() {
	echo "Bail out! $*"
	exit 1
}

require_dev_env() {
	local var missing=
	for var in LOGTALLY_KAFKA_BROKERS LOGTALLY_KAFKA_TOPIC LOGTALLY_DB_HOST \
		   LOGTALLY_DB_PORT LOGTALLY_DB_SOCKET LOGTALLY_DB_USER \
		   LOGTALLY_DB_PASSWORD LOGTALLY_DB_NAME; do
		if [ -z "${!var:-}" ]; then
			missing="$missing $var"
		fi
	done
	if [ -n "$missing" ]; then
		bail_out "dev services not configured (unset:$missing): run" \
			 "scripts/dev-services up && eval \"\$(scripts/dev-services env)\""
	fi
}

cleanup_add() {
	TAP_CLEANUPS+=("$1")
}

wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			return 1
		fi
		sleep 0.1
	done
}

kill_wait() {
	kill "$1" 2>/dev/null || return 0
	if ! wait_until 20 eval "! kill -0 $1 2>/dev/null"; then
		kill -KILL "$1" 2>/dev/null || true
	fi
}

tap_exit() {
	local rc=0 i
	trap - EXIT
	for ((i = ${#TAP_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${TAP_CLEANUPS[i]}" >/dev/null 2>&1 || true
	done
	rm -rf "$TAP_TMP"
	if [ "$TAP_RUN" != "$TAP_PLANNED" ]; then
		diag "planned $TAP_PLANNED tests, ran $TAP_RUN"
		rc=1
	elif [ "$TAP_FAILED" != 0 ]; then
		diag "$TAP_FAILED of $TAP_RUN tests failed"
		rc=1
	fi
	exit "$rc"
}

TAP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/logtally-test.XXXXXX")
trap tap_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
