# aggregator_lib.sh: what the aggregator's integration tests (aggregator_*.sh)
# share. Source it after tap.sh (and agent_lib.sh when a test runs the agent
# too). Every test uses a topic and a database of its own; the oracle is an
# independent count of the lines written, by Perl, never the program's own
# figures.
#
#   agg_require                     bail out unless services and tools are there
#   agg_db NAME                     create database logtally_t_NAME_<unique>
#                                   (dropped at exit); prints its name
#   agg_sql DB QUERY                run QUERY in DB: tab-separated rows, no header
#   agg_config FILE BROKERS TOPIC DB [LINE...]
#                                   write an aggregator configuration (own group,
#                                   6 s sessions, flush_interval 200ms, http on
#                                   a free port);
#                                   LINEs are extra top-level YAML lines
#   agg_start NAME CONFIG [ARG...]  the aggregator in the background (AGG_PID),
#                                   stderr in $TAP_TMP/NAME.err
#   agg_once NAME CONFIG [ARG...]   the aggregator with --once in the
#                                   foreground; its exit status in AGG_RC
#   agg_stop PID                    SIGTERM, wait up to 60 s; returns its status
#   agg_gen N SEED [EPOCH]          scripts/sample-log: N combined lines with
#                                   query strings, hashtags (percent-encoded,
#                                   non-ASCII), one a second from EPOCH (default: N s ago);
#                                   with AGG_TIMES set, each ends in a request
#                                   time (log_format: nginx_request_time)
#   agg_expect DIM FILE...          the oracle: VALUE TAB HITS, sorted by value,
#                                   for DIM url, status or hashtag
#   agg_oracle MODE DIM FILE...     the oracle of counts (as agg_expect),
#                                   measures (hits, bytes, timed hits, duration
#                                   sum and maximum) or latency (VALUE TAB
#                                   BUCKET TAB HITS)
#   agg_measures DB DIM [SECONDS]   the table's side of agg_oracle measures
#   agg_latency DB DIM [SECONDS]    the latency table's side of agg_oracle latency
#   agg_counts DB DIM [SECONDS]     the same from the counts table, summed over
#                                   the windows of size SECONDS (default 5)
#   agg_total DB DIM [SECONDS]      sum of hits of DIM
#   agg_produce BROKERS TOPIC FILE  FILE's lines as bare values (no key)
#   agg_http_port NAME              the /metrics port aggregator NAME logged
#   agg_metric PORT NAME            the value of metric NAME on /metrics
#   agg_sanitizer_clean             no ASan/UBSan/LSan report in $TAP_TMP/*.err
# shellcheck shell=bash

# shellcheck disable=SC2154 # set by tap.sh
AGGREGATOR=$top_builddir/logtally-aggregator
AGG_TIMEOUT=300          # seconds any one --once run may take at most

agg_require() {
	local tool
	require_dev_env
	for tool in kcat perl curl mariadb; do
		command -v "$tool" >/dev/null || bail_out "$tool is missing"
	done
	[ -x "$AGGREGATOR" ] || bail_out "build first: $AGGREGATOR is missing"
}

agg_mariadb() {
	mariadb --no-defaults --connect-timeout=10 --protocol=tcp \
		-h "$LOGTALLY_DB_HOST" -P "$LOGTALLY_DB_PORT" \
		-u "$LOGTALLY_DB_USER" -p"$LOGTALLY_DB_PASSWORD" "$@"
}

# Called as DB=$(agg_db x), in a subshell whose cleanup_add would be lost:
# the databases are named after this shell's pid, and dropped by pattern.
agg_db() {
	local name=logtally_t_$1_$$_$RANDOM
	agg_mariadb -e "CREATE DATABASE $name" || bail_out "cannot create database $name"
	echo "$name"
}

agg_drop_dbs() {
	local db
	for db in $(agg_mariadb -N -B -e "SHOW DATABASES LIKE 'logtally\\_t\\_%\\_$$\\_%'"); do
		agg_mariadb -e "DROP DATABASE IF EXISTS $db"
	done
}
cleanup_add agg_drop_dbs

agg_sql() {
	agg_mariadb -N -B "$1" -e "$2"
}

agg_config() {
	local file=$1 brokers=$2 topic=$3 db=$4
	shift 4
	cat >"$file" <<EOF
kafka:
  brokers: $brokers
  topic: $topic
  group: test-$topic
  # The dev broker holds a group's next join until the session of the member
  # before has timed out, even one that left: keep runs of a test short.
  properties: {session.timeout.ms: '6000', heartbeat.interval.ms: '500'}
mariadb:
  host: $LOGTALLY_DB_HOST
  port: $LOGTALLY_DB_PORT
  user: $LOGTALLY_DB_USER
  password: $LOGTALLY_DB_PASSWORD
  database: $db
flush_interval: 200ms
http:
  listen: 127.0.0.1:0
EOF
	if [ $# -gt 0 ]; then
		printf '%s\n' "$@" >>"$file"
	fi
}

agg_start() {
	local name=$1 config=$2
	shift 2
	# shellcheck disable=SC2086 # the wrapper is a command line
	${AGG_WRAPPER:-} "$AGGREGATOR" --config "$config" "$@" \
		</dev/null >"$TAP_TMP/$name.out" 2>"$TAP_TMP/$name.err" &
	AGG_PID=$!
	cleanup_add "kill_wait $AGG_PID"
}

agg_once() {
	local name=$1 config=$2
	shift 2
	# shellcheck disable=SC2086 # the wrapper is a command line
	timeout "$AGG_TIMEOUT" ${AGG_WRAPPER:-} "$AGGREGATOR" --config "$config" --once "$@" \
		</dev/null >"$TAP_TMP/$name.out" 2>"$TAP_TMP/$name.err"
	# shellcheck disable=SC2034 # for the caller
	AGG_RC=$?
}

agg_stop() {
	kill -TERM "$1" 2>/dev/null
	wait_until 60 eval "! kill -0 $1 2>/dev/null" || return 124
	wait "$1"
}

agg_gen() {
	"$top_srcdir/scripts/sample-log" ${AGG_TIMES:+--request-time} "$1" "$2" \
		"${3:-$(($(date +%s) - $1))}"
}

# The independent count: its own regexes, its own percent-decoding, its
# own latency buckets. MODE counts: VALUE TAB HITS; measures: VALUE TAB
# HITS TAB BYTES TAB TIMED TAB DURATION_US_SUM TAB DURATION_US_MAX; latency:
# VALUE TAB BUCKET TAB HITS. A line's time is a number after its user
# agent: seconds (nginx's $request_time, Apache's %T), or microseconds
# (Apache's %D) when AGG_TIME_UNIT is us.
agg_oracle() {
	local mode=$1 dim=$2
	shift 2
	perl -CS -e '
		use utf8;
		my ($mode, $dim) = (shift, shift);
		# R10 from 100 us to 100 s, then +Inf: schema.sql says so
		my @le = ((map { my $k = $_; map { $_ * 10 ** $k } 100, 125, 160, 200,
			250, 315, 400, 500, 630, 800 } 0 .. 5), 100000000);
		my (%n, %bytes, %timed, %sum, %max, %hist);
		my $add = sub {
			my ($v, $size, $us) = @_;
			$n{$v}++;
			$bytes{$v} += $size;
			return unless defined $us;
			$timed{$v}++;
			$sum{$v} += $us;
			$max{$v} = $us if $us > ($max{$v} // 0);
			my $b = 0;
			$b++ while $b < @le && $us > $le[$b];
			$hist{"$v\t$b"}++;
		};
		binmode(STDIN);
		while (my $l = <>) {
			chomp $l;
			next unless $l =~ /^\S+ \S+ \S+ \[[^\]]+\] "(?:[^"\\]|\\.)*" (\d{3}|-) (\d+|-)/;
			my ($status, $size) = ($1, $2 eq "-" ? 0 : $2);
			my $us;
			if ($l =~ / "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*" (\d+)(?:\.(\d{1,6}))?$/) {
				$us = $ENV{AGG_TIME_UNIT} && $ENV{AGG_TIME_UNIT} eq "us" ? $1 :
				      $1 * 1000000 + substr(($2 // "") . "000000", 0, 6);
			}
			my ($target) = $l =~ /^\S+ \S+ \S+ \[[^\]]+\] "\S+ (\S+)/;
			if ($dim eq "status") { $add->($status, $size, $us); next; }
			next unless defined $target;
			if ($dim eq "url") {
				(my $path = $target) =~ s/[?#].*//s;
				utf8::decode($path);
				$add->($path, $size, $us) if length $path;
				next;
			}
			(my $dec = $target) =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge;
			utf8::decode($dec);
			$add->(lc $1, $size, $us) while $dec =~ /#(\w+)/g;
		}
		if ($mode eq "latency") {
			print "$_\t$hist{$_}\n" for sort keys %hist;
		} elsif ($mode eq "measures") {
			printf("%s\t%d\t%d\t%d\t%d\t%d\n", $_, $n{$_}, $bytes{$_},
			       $timed{$_} // 0, $sum{$_} // 0, $max{$_} // 0) for sort keys %n;
		} else {
			print "$_\t$n{$_}\n" for sort keys %n;
		}
	' "$mode" "$dim" "$@" | LC_ALL=C sort
}

agg_expect() {
	agg_oracle counts "$@"
}

agg_counts() {
	agg_sql "$1" "SELECT value, SUM(hits) FROM counts WHERE dimension = '$2'
		AND window_seconds = ${3:-5} GROUP BY value" | LC_ALL=C sort
}

agg_total() {
	local n
	n=$(agg_sql "$1" "SELECT COALESCE(SUM(hits), 0) FROM counts
		WHERE dimension = '$2' AND window_seconds = ${3:-5}")
	echo "${n:-0}"
}

# The table's side of agg_oracle measures and latency (DB DIM [SECONDS]).
agg_measures() {
	agg_sql "$1" "SELECT value, SUM(hits), SUM(bytes), SUM(duration_count),
		SUM(duration_us_sum), MAX(duration_us_max) FROM counts
		WHERE dimension = '$2' AND window_seconds = ${3:-5} GROUP BY value" |
		LC_ALL=C sort
}

agg_latency() {
	agg_sql "$1" "SELECT value, bucket, SUM(hits) FROM latency
		WHERE dimension = '$2' AND window_seconds = ${3:-5}
		GROUP BY value, bucket" | LC_ALL=C sort
}

agg_produce() {
	timeout 120 kcat -b "$1" -P -t "$2" -l "$3"
}

agg_http_port() {
	sed -n 's/.*http: .* on port \([0-9]*\).*/\1/p' "$TAP_TMP/$1.err" | head -n 1
}

agg_metric() {
	curl -sf "http://127.0.0.1:$1/metrics" |
		awk -v m="$2" '$1 == m { print $2; found = 1 } END { if (!found) print "" }'
}

agg_sanitizer_clean() {
	! grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TAP_TMP"/*.err 2>/dev/null
}

# Helpers of the fault tests aggregator_crash.sh, aggregator_group.sh and
# aggregator_db.sh.
#
#   agg_fast_group FILE             make a killed member leave the group in
#                                   seconds (session.timeout.ms 4000), not 45 s
#   agg_use_socket FILE SOCKET      connect to MariaDB by SOCKET instead of
#                                   host and port (a restarted private server
#                                   keeps its socket but gets a new port)
#   agg_watermarks BROKERS TOPIC    PARTITION SPACE HIGH_WATERMARK per partition
#   agg_offsets DB TOPIC N          PARTITION SPACE NEXT_OFFSET stored in
#                                   logtally_offsets for partitions 0..N-1,
#                                   0 for a partition without a row
#   agg_caught_up DB BROKERS TOPIC  every partition's stored offset is its
#                                   high watermark: everything in Kafka counted
#   agg_exact DB SECONDS FILE...    url, status and hashtag in windows of
#                                   SECONDS equal the oracle over FILE...,
#                                   hits, bytes, durations and latency buckets;
#                                   else prints the differences and fails
#   agg_writer DIR FILES LINES CHUNK  in the background (AGG_WRITER_PID),
#                                   append CHUNK lines of `agg_gen LINES F` to
#                                   DIR/access-F.log for F in 1..FILES every
#                                   0.1 s, until LINES or agg_writer_stop DIR

agg_fast_group() {
	sed -i -e '/^  properties: /d' \
		-e 's/^  group: .*/&\n  properties: {session.timeout.ms: 4000, heartbeat.interval.ms: 500}/' "$1"
}

agg_use_socket() {
	sed -i -e "s|^  host: .*|  socket: $2|" -e '/^  port: /d' "$1"
}

agg_watermarks() {
	local n p args=()
	n=$(timeout 30 kcat -b "$1" -L -t "$2" 2>/dev/null | grep -c '^ *partition [0-9]*,')
	for ((p = 0; p < n; p++)); do
		args+=(-t "$2:$p:-1")
	done
	[ "$n" -gt 0 ] || return 1
	timeout 30 kcat -b "$1" -Q "${args[@]}" 2>/dev/null |
		sed -n 's/.* \[\([0-9]*\)\] offset \([0-9]*\)$/\1 \2/p' | sort -n
}

agg_offsets() {
	agg_sql "$1" "SELECT kafka_partition, next_offset FROM logtally_offsets
		WHERE topic = '$2'" 2>/dev/null |
		awk -v n="$3" '{ o[$1] = $2 } END { for (p = 0; p < n; p++) print p, (p in o) ? o[p] : 0 }'
}

agg_caught_up() {
	local hwm
	hwm=$(agg_watermarks "$2" "$3") && [ -n "$hwm" ] &&
		[ "$(agg_offsets "$1" "$3" "$(wc -l <<<"$hwm")")" = "$hwm" ]
}

agg_exact() {
	local db=$1 seconds=$2 dim diffs='' d
	shift 2
	for dim in url status hashtag; do
		d=$(diff <(agg_oracle measures "$dim" "$@") \
			<(agg_measures "$db" "$dim" "$seconds") | grep '^[<>]' |
			sed -e 's/^</  oracle:/' -e 's/^>/  table: /')
		d+=$(diff <(agg_oracle latency "$dim" "$@") \
			<(agg_latency "$db" "$dim" "$seconds") | grep '^[<>]' |
			sed -e 's/^</  oracle latency:/' -e 's/^>/  table latency: /')
		if [ -n "$d" ]; then
			diffs="$diffs$dim (value, hits, bytes, timed, sum, max):
$(head -n 10 <<<"$d")
"
		fi
	done
	[ -z "$diffs" ] && return 0
	printf '%s' "$diffs"
	return 1
}

agg_writer() {
	local dir=$1 files=$2 lines=$3 f gen=()
	mkdir -p "$dir" "$TAP_TMP/writer"
	rm -f "$dir/stop"
	for ((f = 1; f <= files; f++)); do
		agg_gen "$lines" "$f" >"$TAP_TMP/writer/gen-$f"
		gen+=("$TAP_TMP/writer/gen-$f")
	done
	perl -e '
		use Time::HiRes qw(sleep);
		my ($dir, $chunk, @gen) = @ARGV;
		my @in = map { open(my $h, "<", $_) or die "$_: $!"; $h } @gen;
		my @out = map { open(my $h, ">>", "$dir/access-$_.log") or die "$!"; $h } 1 .. @gen;
		while (!-e "$dir/stop") {
			my $left = 0;
			for my $f (0 .. $#in) {
				my $buf = "";
				for (1 .. $chunk) {
					my $l = readline($in[$f]);
					last unless defined $l;
					$buf .= $l;
					$left = 1;
				}
				syswrite($out[$f], $buf) if length $buf;
			}
			last unless $left;
			sleep(0.1);
		}
	' "$dir" "$4" "${gen[@]}" </dev/null >"$TAP_TMP/writer.err" 2>&1 &
	AGG_WRITER_PID=$!
	cleanup_add "kill_wait $AGG_WRITER_PID"
}

agg_writer_stop() {
	touch "$1/stop"
	wait "$AGG_WRITER_PID"
}

# Helpers of aggregator_batch.sh and aggregator_input.sh.
#
#   agg_values DB DIM [SECONDS]     agg_counts read through HEX(), so that
#                                   values come back byte for byte (mariadb -B
#                                   would escape backslashes and tabs)
#   agg_expect_clf WHAT FILE...     an oracle for real logs of the common
#                                   or combined format (clients that are lists
#                                   of addresses, extra fields after the size):
#                                   WHAT status or url (VALUE TAB HITS; the
#                                   request split as "METHOD TARGET[ PROTOCOL]",
#                                   runs of spaces as one, the path cut at '?'
#                                   or '#', then at 512 characters), or
#                                   unparsed (the number of lines that are not
#                                   of the format)
#   agg_expect_windows SECONDS FILE...  WINDOW_START TAB STATUS TAB HITS: each
#                                   line's own time, zone applied, floored to SECONDS
#   agg_windows DB DIM SECONDS      WINDOW_START TAB VALUE TAB HITS from the table
#   agg_stored DB TOPIC             the sum of the next offsets stored for TOPIC
#   agg_wait_port NAME              wait up to 30 s for the port aggregator NAME
#                                   logged, and print it

# Turns "HEX TAB REST" rows into "BYTES TAB REST".
agg_unhex() {
	perl -ne 'chomp; my ($h, $r) = split /\t/, $_, 2; print pack("H*", $h), "\t$r\n"'
}

agg_values() {
	agg_sql "$1" "SELECT HEX(value), SUM(hits) FROM counts WHERE dimension = '$2'
		AND window_seconds = ${3:-5} GROUP BY value" | agg_unhex | LC_ALL=C sort
}

agg_expect_clf() {
	perl -e '
		my $what = shift;
		my (%n, $bad);
		while (my $l = <>) {
			$l =~ s/\r?\n\z//;
			unless ($l =~ /^.+? \S+ \S+ \[[^\]]*\] "((?:[^"\\]|\\.)*)" (\d+|-) (?:\d+|-)(?:\s.*)?\z/s) {
				$bad++;
				next;
			}
			my ($req, $status) = ($1, $2);
			if ($what eq "status") { $n{$status}++; next; }
			next unless $req =~ m{^[-!#\$%&\x27*+.^_`|~0-9A-Za-z]+ +([^ ]+)(?: +[^ ]+)? *\z};
			(my $path = $1) =~ s/[?#].*//s;
			utf8::decode($path);
			$path = substr($path, 0, 512);
			utf8::encode($path);
			$n{$path}++ if length $path;
		}
		if ($what eq "unparsed") { print $bad // 0, "\n"; exit; }
		print "$_\t$n{$_}\n" for keys %n;
	' "$@" | LC_ALL=C sort
}

agg_expect_windows() {
	perl -MTime::Local=timegm -e '
		my $size = shift;
		my %mon; @mon{qw(Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec)} = 0 .. 11;
		my %n;
		while (my $l = <>) {
			next unless $l =~ m{^\S+ \S+ \S+ \[(\d\d)/(\w{3})/(\d{4}):(\d\d):(\d\d):(\d\d) ([-+])(\d\d)(\d\d)\] "(?:[^"\\]|\\.)*" (\d{3}|-) };
			my $t = timegm($6, $5, $4, $1, $mon{$2}, $3) - ($7 eq "-" ? -1 : 1) * ($8 * 3600 + $9 * 60);
			my @g = gmtime($t - $t % $size);
			$n{sprintf("%04d-%02d-%02d %02d:%02d:%02d\t%s", $g[5] + 1900, $g[4] + 1,
				   $g[3], $g[2], $g[1], $g[0], $10)}++;
		}
		print "$_\t$n{$_}\n" for keys %n;
	' "$@" | LC_ALL=C sort
}

agg_windows() {
	agg_sql "$1" "SELECT window_start, value, hits FROM counts
		WHERE dimension = '$2' AND window_seconds = $3" | LC_ALL=C sort
}

agg_stored() {
	local n
	n=$(agg_sql "$1" "SELECT COALESCE(SUM(next_offset), 0) FROM logtally_offsets
		WHERE topic = '$2' AND next_offset >= 0" 2>/dev/null)
	echo "${n:-0}"
}

agg_wait_port() {
	wait_until 30 grep -qs 'http: .* on port [0-9]' "$TAP_TMP/$1.err" || return 1
	agg_http_port "$1"
}

# A test CA and a certificate it signed for NAME (subjectAltName SAN, such
# as IP:127.0.0.1 or DNS:host) into DIR: ca.pem, server.pem, server.key;
# openssl's messages go to DIR/openssl.err. Fails as openssl does.
tls_certs() {   # DIR NAME SAN
	local d=$1 curve=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
	mkdir -p "$d" &&
	openssl req -x509 "${curve[@]}" -keyout "$d/ca.key" -out "$d/ca.pem" -days 2 \
		-subj "/CN=$2 test CA" 2>"$d/openssl.err" &&
	openssl req "${curve[@]}" -keyout "$d/server.key" -out "$d/server.csr" \
		-subj "/CN=$2" 2>>"$d/openssl.err" &&
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
		-CAcreateserial -days 2 -out "$d/server.pem" \
		-extfile <(echo "subjectAltName=$3") 2>>"$d/openssl.err"
}
