#!/usr/bin/env bash
# install.sh: `make install DESTDIR=...` of the build tree the test runs in
# (issue 12): the binaries, the sample configurations in
# $(sysconfdir)/logtally (an edited one survives a second install and the
# uninstall), the schema, the dashboard and the logrotate samples in
# $(pkgdatadir), and the systemd units, which `systemd-analyze verify`
# accepts. The logrotate samples go through `logrotate -d` against a log
# folder of the test's own. Needs no service; a missing systemd-analyze or
# logrotate skips its tests.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"

plan 14
dest=$TAP_TMP/dest
log=$TAP_TMP/make.log

# A make of our own from inside `make check`: without the parent's
# jobserver flags, which its file descriptors no longer back.
run_make() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$top_builddir" "$@"
}

skip() {            # DESCRIPTION REASON
	TAP_RUN=$((TAP_RUN + 1))
	echo "ok $TAP_RUN - $1 # SKIP $2"
}

# The installation folders as configured, from the build tree's Makefile.
cat >"$TAP_TMP/dirs.mk" <<'MAKE'
logtally-print-dirs:
	@echo "bindir=$(bindir)"
	@echo "sysconfdir=$(sysconfdir)"
	@echo "pkgdatadir=$(pkgdatadir)"
	@echo "mandir=$(mandir)"
	@echo "systemdsystemunitdir=$(systemdsystemunitdir)"
MAKE
dirs=$(run_make -s -f Makefile -f "$TAP_TMP/dirs.mk" logtally-print-dirs) ||
	bail_out "cannot read the installation folders from $top_builddir/Makefile: $dirs"
dir_of() { sed -n "s|^$1=||p" <<<"$dirs"; }
bindir=$(dir_of bindir)
sysconfdir=$(dir_of sysconfdir)
pkgdatadir=$(dir_of pkgdatadir)
mandir=$(dir_of mandir)
systemdsystemunitdir=$(dir_of systemdsystemunitdir)
diag "$dirs"
conf=$dest$sysconfdir/logtally
share=$dest$pkgdatadir
units=
[ "$systemdsystemunitdir" = no ] || units=$dest$systemdsystemunitdir

if run_make install DESTDIR="$dest" >"$log" 2>&1; then
	ok "make install DESTDIR=..."
else
	bail_out "make install failed: $(tail -n 20 "$log")"
fi

# Every file where it belongs, the data files as they are in the source.
installed() {       # FILE [SOURCE]
	[ -f "$1" ] || { echo "missing: $1"; return 1; }
	[ -z "${2:-}" ] || cmp "$2" "$1"
}
check "the binaries in bindir" eval \
	'test -x "$dest$bindir/logtally-agent" && test -x "$dest$bindir/logtally-aggregator"'
check "agent.yml and aggregator.yml in \$(sysconfdir)/logtally, as the samples" eval \
	'installed "$conf/agent.yml" "$top_srcdir/config/agent.yml" &&
	 installed "$conf/aggregator.yml" "$top_srcdir/config/aggregator.yml"'
check "schema.sql and grafana/logtally.json in \$(pkgdatadir)" eval \
	'installed "$share/schema.sql" "$top_srcdir/config/schema.sql" &&
	 installed "$share/grafana/logtally.json" "$top_srcdir/config/grafana/logtally.json"'
check "the logrotate samples in \$(pkgdatadir)/logrotate" eval \
	'installed "$share/logrotate/nginx" "$top_srcdir/config/logrotate/nginx" &&
	 installed "$share/logrotate/apache2" "$top_srcdir/config/logrotate/apache2"'

# The units run the installed programs on the installed configurations.
units_installed() {
	local name
	for name in agent aggregator; do
		installed "$units/logtally-$name.service" || return 1
		grep -qx "ExecStart=$bindir/logtally-$name --config $sysconfdir/logtally/$name.yml" \
			"$units/logtally-$name.service" ||
			{ grep ExecStart "$units/logtally-$name.service"; return 1; }
	done
}
if [ -n "$units" ]; then
	check "both units in systemdsystemunitdir, ExecStart with the install paths" units_installed
else
	skip "both units in systemdsystemunitdir" "configured --without-systemdsystemunitdir"
fi

# The agent's registry goes to its StateDirectory through the unit's
# LOGTALLY_DATA_DIR, which the sample agent.yml reads for data_dir.
state_dir_is_data_dir() {
	local unit=$units/logtally-agent.service env state out
	state=$(sed -n 's/^StateDirectory=//p' "$unit")
	env=$(sed -n 's/^Environment=LOGTALLY_DATA_DIR=//p' "$unit")
	[ "$env" = "%S/$state" ] || { echo "StateDirectory=$state, LOGTALLY_DATA_DIR=$env"; return 1; }
	out=$(LOGTALLY_DATA_DIR=/var/lib/$state "$dest$bindir/logtally-agent" \
		--check-config --config "$conf/agent.yml") || { echo "$out"; return 1; }
	[[ $out == *"data_dir /var/lib/$state" ]] || { echo "$out"; return 1; }
}
# systemd must not SIGKILL a program still inside its shutdown_timeout.
timeout_above_shutdown() {
	local name limit stop
	for name in agent aggregator; do
		limit=$("$dest$bindir/logtally-$name" --help-config |
			sed -n '/^shutdown_timeout$/{n;s/.*default: \([0-9]*\)s$/\1/p}')
		stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s$/\1/p' "$units/logtally-$name.service")
		[[ -n $limit && -n $stop && $stop -gt $limit ]] ||
			{ echo "$name: TimeoutStopSec=${stop}s, shutdown_timeout ${limit}s"; return 1; }
	done
}
if [ -n "$units" ]; then
	check "the agent's data_dir is its StateDirectory" state_dir_is_data_dir
	check "TimeoutStopSec is above shutdown_timeout's default" timeout_above_shutdown
else
	skip "the agent's data_dir is its StateDirectory" "no units"
	skip "TimeoutStopSec is above shutdown_timeout's default" "no units"
fi

# verify needs ExecStart's program to exist: check each unit as installed,
# ExecStart moved under DESTDIR. Its warnings (an unknown key) leave the
# exit status 0, so any output fails. The Documentation= manual pages are
# looked up in the installed tree when it has them, else not at all.
verify_unit() {     # NAME
	local copy=$TAP_TMP/verify/logtally-$1.service out man=no
	mkdir -p "$TAP_TMP/verify"
	sed "s|^ExecStart=$bindir/|ExecStart=$dest$bindir/|" "$units/logtally-$1.service" >"$copy"
	[ ! -f "$dest$mandir/man8/logtally-$1.8" ] || man=yes
	if ! out=$(MANPATH=$dest$mandir systemd-analyze verify --man="$man" "$copy" 2>&1) ||
		[ -n "$out" ]; then
		echo "$out"
		return 1
	fi
}
for name in agent aggregator; do
	if [ -z "$units" ]; then
		skip "systemd-analyze verify logtally-$name.service" "no units"
	elif ! command -v systemd-analyze >/dev/null; then
		skip "systemd-analyze verify logtally-$name.service" "systemd-analyze is missing"
	else
		check "systemd-analyze verify logtally-$name.service" verify_unit "$name"
	fi
done

# logrotate -d (nothing is done) -f (rotate now) on a sample moved to a log
# folder of our own: it renames access.log, creates a new one, keeps
# access.log.1 plain (delaycompress), and never copies and truncates.
LOGROTATE=$(command -v logrotate || { [ ! -x /usr/sbin/logrotate ] || echo /usr/sbin/logrotate; })
logrotate_dry_run() {   # SERVER
	local dir=$TAP_TMP/log/$1 conf=$TAP_TMP/logrotate-$1 out
	mkdir -p "$dir"
	echo '127.0.0.1 - - [07/Dec/2026:18:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "test"' >"$dir/access.log"
	sed "s|/var/log/$1/|$dir/|" "$share/logrotate/$1" >"$conf"
	if grep -Eq '^[[:space:]]*copytruncate' "$conf" ||
		! grep -Eq '^[[:space:]]*delaycompress' "$conf"; then
		echo "copytruncate, or no delaycompress"
		return 1
	fi
	out=$("$LOGROTATE" -d -f -s "$TAP_TMP/logrotate.state" "$conf" 2>&1) || { echo "$out"; return 1; }
	if grep -q '^error' <<<"$out" ||
		! grep -q "^renaming $dir/access.log to $dir/access.log.1\$" <<<"$out" ||
		! grep -q "^creating new $dir/access.log " <<<"$out"; then
		echo "$out"
		return 1
	fi
}
for server in nginx apache2; do
	if [ -z "$LOGROTATE" ]; then
		skip "logrotate -d on the $server sample" "logrotate is missing"
	else
		check "logrotate -d on the $server sample: renames, creates, no error" logrotate_dry_run "$server"
	fi
done

# An operator's edits survive a second install and the uninstall; a missing
# sample is installed again, and the uninstall takes what is still a sample.
echo "# edited by the operator" >>"$conf/agent.yml"
rm -f "$conf/aggregator.yml"
if run_make install DESTDIR="$dest" >"$log" 2>&1 &&
	[ "$(tail -n 1 "$conf/agent.yml")" = "# edited by the operator" ] &&
	cmp -s "$top_srcdir/config/aggregator.yml" "$conf/aggregator.yml"; then
	ok "a second install keeps an edited agent.yml and restores a missing aggregator.yml"
else
	not_ok "a second install keeps an edited agent.yml" "$(tail -n 20 "$log")"
fi
left=
if run_make uninstall DESTDIR="$dest" >"$log" 2>&1; then
	left=$(cd "$dest" && find . -type f)
fi
if [ "$left" = "./${sysconfdir#/}/logtally/agent.yml" ]; then
	ok "make uninstall leaves the edited agent.yml and nothing else"
else
	not_ok "make uninstall leaves the edited agent.yml and nothing else" "left: $left
$(tail -n 20 "$log")"
fi
