#!/usr/bin/env bash
# aggregator_signals.sh: a second SIGTERM stops the aggregator at once, also
# while it waits for MariaDB, and leaves the counts exact.
# Started with MariaDB unreachable (a port nobody listens on), it waits for
# it with a backoff that grows to 5 s: two SIGTERMs end it within 2 s.
# Counting through a proxy to MariaDB that the test then kills, it keeps
# counts it cannot write; the first SIGTERM starts the last flush, retried
# up to shutdown_timeout (a minute here), and the second ends it within 2 s.
# Through a proxy that the test then stops (SIGSTOP: MariaDB hangs), a flush
# waits for an answer that does not come; the first SIGTERM waits for it,
# the second ends the process within 2 s all the same. A --once run with
# MariaDB reachable then counts every line exactly once.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"
# shellcheck source=aggregator_lib.sh
. "$(dirname "$0")/aggregator_lib.sh"

plan 15
agent_require
agg_require

PROMPT_MS=2000          # at most this long from the second SIGTERM to exit
TOPIC=$(agent_topic agg-signals)
DB=$(agg_db signals)
# agg_db's own cleanup_add ran in the $(...) subshell: register it here.
cleanup_add "agg_mariadb -e 'DROP DATABASE IF EXISTS $DB'"

now_ms() {
	date +%s%3N
}

# A loopback port that nobody listens on (it was free a moment ago).
free_port() {
	perl -MIO::Socket::INET -e '
		my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1",
					      LocalPort => 0) or die "$!";
		print $s->sockport, "\n";'
}

# A TCP proxy to MariaDB in one process (PROXY_PID): killing it cuts every
# connection through it and leaves its port refusing new ones; stopping it
# leaves them hanging. Prints its port to $1.
db_proxy() {
	perl -MIO::Socket::INET -MIO::Select -e '
		my ($out, $host, $port) = @ARGV;
		my $l = IO::Socket::INET->new(Listen => 16, LocalAddr => "127.0.0.1",
					      LocalPort => 0, ReuseAddr => 1) or die "$!";
		open(my $f, ">", "$out.tmp") or die "$!";
		print $f $l->sockport, "\n";
		close($f);
		rename("$out.tmp", $out);
		my $sel = IO::Select->new($l);
		my %peer;
		while (1) {
			for my $s ($sel->can_read) {
				if ($s == $l) {
					my $c = $l->accept or next;
					my $u = IO::Socket::INET->new(PeerAddr => $host,
								      PeerPort => $port);
					if (!$u) { close($c); next; }
					@peer{$c, $u} = ($u, $c);
					$sel->add($c, $u);
					next;
				}
				my $o = $peer{$s};
				my $n = sysread($s, my $buf, 65536);
				if (!$n) {
					$sel->remove($s, $o);
					delete @peer{$s, $o};
					close($s);
					close($o);
					next;
				}
				for (my $off = 0; $off < $n; ) {
					my $w = syswrite($o, $buf, $n - $off, $off);
					last unless defined $w;
					$off += $w;
				}
			}
		}' "$1" "$LOGTALLY_DB_HOST" "$LOGTALLY_DB_PORT" \
		</dev/null >"$TAP_TMP/proxy.err" 2>&1 &
	PROXY_PID=$!
	cleanup_add "kill -KILL $PROXY_PID"
	wait_until 10 test -s "$1"
}

# Send SIGTERM twice, 0.2 s apart (the first may end it already); the
# milliseconds from the first one until pid $1 is gone go to
# $TAP_TMP/elapsed, its exit status to $TAP_TMP/status. Fails when it takes
# over 20 s.
term_twice() {
	local pid=$1 start
	start=$(now_ms)
	kill -TERM "$pid"
	sleep 0.2
	kill -TERM "$pid" 2>/dev/null
	wait_until 20 eval "! kill -0 $pid 2>/dev/null" || return 1
	echo $(($(now_ms) - start)) >"$TAP_TMP/elapsed"
	wait "$pid"
	echo $? >"$TAP_TMP/status"
}

# --- started while MariaDB is unreachable -------------------------------------
agg_config "$TAP_TMP/down.yml" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$DB"
sed -i "s/^  port: .*/  port: $(free_port)/" "$TAP_TMP/down.yml"
agg_start down "$TAP_TMP/down.yml"
check "started with MariaDB unreachable, it waits for it" \
	wait_until 20 grep -q 'MariaDB: .*waiting for it' "$TAP_TMP/down.err"
sleep 7                 # the backoff between attempts has grown to 5 s
if term_twice "$AGG_PID" && [ "$(cat "$TAP_TMP/elapsed")" -le "$PROMPT_MS" ]; then
	ok "two SIGTERMs while it waits for MariaDB end it in $(cat "$TAP_TMP/elapsed") ms"
else
	not_ok "two SIGTERMs while it waits for MariaDB end it within $PROMPT_MS ms" \
	       "took $(cat "$TAP_TMP/elapsed" 2>/dev/null || echo 'over 20000') ms:
$(tail -n 5 "$TAP_TMP/down.err")"
fi
check "it exits with status 0 (nothing was counted)" \
	test "$(cat "$TAP_TMP/status" 2>/dev/null)" = 0

# --- MariaDB gone while counts wait to be written -------------------------------
agg_gen 2000 1 >"$TAP_TMP/part1.log"
agg_gen 2000 2 >"$TAP_TMP/part2.log"
agg_produce "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$TAP_TMP/part1.log" ||
	bail_out "cannot produce to $TOPIC"
db_proxy "$TAP_TMP/proxy.port" || bail_out "the proxy to MariaDB does not start"
agg_config "$TAP_TMP/agg.yml" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$DB" \
	"shutdown_timeout: 60s"
sed -i "s/^  port: .*/  port: $(cat "$TAP_TMP/proxy.port")/" "$TAP_TMP/agg.yml"
agg_start agg "$TAP_TMP/agg.yml"
check "through the proxy it counts what the topic holds" \
	wait_until 60 agg_caught_up "$DB" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC"
{ kill -KILL "$PROXY_PID" && wait "$PROXY_PID"; } 2>/dev/null
agg_produce "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$TAP_TMP/part2.log" ||
	bail_out "cannot produce to $TOPIC"
check "the proxy killed, it finds MariaDB unavailable" \
	wait_until 30 grep -q 'MariaDB unavailable' "$TAP_TMP/agg.err"
kill -TERM "$AGG_PID"
sleep 1
check "after one SIGTERM it waits for MariaDB to write the last flush" \
	kill -0 "$AGG_PID"
start=$(now_ms)
kill -TERM "$AGG_PID"
if wait_until 20 eval "! kill -0 $AGG_PID 2>/dev/null" &&
   [ $(($(now_ms) - start)) -le "$PROMPT_MS" ]; then
	ok "the second SIGTERM ends it in $(($(now_ms) - start)) ms"
else
	not_ok "the second SIGTERM ends it within $PROMPT_MS ms" \
	       "$(tail -n 5 "$TAP_TMP/agg.err")"
fi
check "it says what it did not write" \
	grep -q 'stopping with [0-9]* keys not flushed' "$TAP_TMP/agg.err"

# --- MariaDB hanging during a flush --------------------------------------------
agg_gen 2000 3 >"$TAP_TMP/part3.log"
db_proxy "$TAP_TMP/proxy2.port" || bail_out "the proxy to MariaDB does not start"
sed -i "s/^  port: .*/  port: $(cat "$TAP_TMP/proxy2.port")/" "$TAP_TMP/agg.yml"
agg_start hang "$TAP_TMP/agg.yml"
check "through a new proxy it counts what the topic holds" \
	wait_until 60 agg_caught_up "$DB" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC"
PORT=$(agg_http_port hang)
kill -STOP "$PROXY_PID"
agg_produce "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$TAP_TMP/part3.log" ||
	bail_out "cannot produce to $TOPIC"
consumed() {
	[ "$(agg_metric "$PORT" logtally_aggregator_messages_total)" -ge 4000 ]
}
check "the proxy stopped, it consumes the new lines (its flush hangs)" \
	wait_until 30 consumed
sleep 1                 # flush_interval is 200ms: a flush waits for MariaDB
kill -TERM "$AGG_PID"
sleep 1
check "after one SIGTERM it waits for the flush in progress" kill -0 "$AGG_PID"
start=$(now_ms)
kill -TERM "$AGG_PID"
if wait_until 20 eval "! kill -0 $AGG_PID 2>/dev/null" &&
   [ $(($(now_ms) - start)) -le "$PROMPT_MS" ]; then
	ok "the second SIGTERM ends it in $(($(now_ms) - start)) ms, flush or not"
else
	not_ok "the second SIGTERM ends it within $PROMPT_MS ms, flush or not" \
	       "$(tail -n 5 "$TAP_TMP/hang.err")"
fi
check "it says it did not wait for the flush" \
	grep -q 'without waiting for the flush in progress' "$TAP_TMP/hang.err"
# Killed while stopped, the proxy forwards nothing the aggregator sent.
{ kill -KILL "$PROXY_PID" && wait "$PROXY_PID"; } 2>/dev/null

# --- the counts are intact --------------------------------------------------------
agg_config "$TAP_TMP/once.yml" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$DB"
agg_once once "$TAP_TMP/once.yml"
exact() {
	test "$AGG_RC" = 0 && agg_exact "$DB" 5 "$TAP_TMP"/part*.log &&
		agg_exact "$DB" 3600 "$TAP_TMP"/part*.log
}
check "a --once run then counts every line exactly once (status $AGG_RC)" exact
check "no sanitizer report in the aggregator's stderr" agg_sanitizer_clean
