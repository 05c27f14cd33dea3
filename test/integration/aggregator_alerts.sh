#!/usr/bin/env bash
# aggregator_alerts.sh: a streaming aggregator with an alert rule (5xx
# above 50% of the status hits over 5 s, evaluated every second) posts to
# a receiver started here, which answers 503 to its first 2 POSTs. Lines
# mostly of 500 make the rule fire: the message is retried until it is
# taken; lines of 200 only, once the 500s have left the span, make it
# resolve. The receiver gets exactly one firing and one resolved message,
# each with a Slack "text" and the structured fields, although a second
# aggregator on the same database has the same rule; the counts stay
# exact. Three more rules, silent so far (p95_above on some values,
# p99_above on all, bytes_above), fire on counts and latency rows written
# here (no built-in format has a request time yet), each once, with the
# estimate and its bounds, and resolve once when faster rows replace them.
# Both aggregators stop on SIGTERM with status 0.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"
# shellcheck source=aggregator_lib.sh
. "$(dirname "$0")/aggregator_lib.sh"

plan 13
agent_require
agg_require
started=$SECONDS

BROKERS=$LOGTALLY_KAFKA_BROKERS
TOPIC=$(agent_topic agg-alerts)
DB=logtally_alrt_$$_$RANDOM
agg_mariadb -e "CREATE DATABASE $DB" || bail_out "cannot create database $DB"
cleanup_add "agg_mariadb -e 'DROP DATABASE IF EXISTS $DB'"
RX=$TAP_TMP/receiver
mkdir -p "$RX"
# Nothing between the aggregator and 127.0.0.1.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

# The receiver: answers 503 to the first $2 POSTs, 200 to the rest, and
# logs each as STATUS TAB AUTHORIZATION TAB BODY in $1/requests (before it
# answers); its port goes to $1/port.
receiver() {
	perl -MIO::Socket::INET -e '
		my ($dir, $fails) = @ARGV;
		my $srv = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
			Listen => 16, ReuseAddr => 1, Proto => "tcp") or die "listen: $!";
		open(my $log, ">>", "$dir/requests") or die "$!";
		$log->autoflush(1);
		open(my $p, ">", "$dir/port.tmp") or die "$!";
		print $p $srv->sockport, "\n";
		close $p;
		rename("$dir/port.tmp", "$dir/port") or die "$!";
		my $n = 0;
		while (my $c = $srv->accept) {
			my ($len, $auth) = (0, "");
			next unless defined(my $request = <$c>);
			while (defined(my $h = <$c>)) {
				$h =~ s/\r?\n\z//;
				last if $h eq "";
				$len = $1 if $h =~ /^Content-Length:\s*(\d+)/i;
				$auth = $1 if $h =~ /^Authorization:\s*(.*)/i;
			}
			my $body = "";
			while (length($body) < $len) {
				last unless read($c, $body, $len - length($body), length($body));
			}
			my $status = ++$n <= $fails ? 503 : 200;
			$body =~ s/[\r\n]/ /g;
			print $log "$status\t$auth\t$body\n";
			print $c "HTTP/1.1 $status X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
			close $c;
		}
	' "$1" "$2" </dev/null >"$1/receiver.err" 2>&1 &
	RX_PID=$!
	cleanup_add "kill_wait $RX_PID"
}

# N lines of STATUS stamped with the current time (UTC), bare.
lines() {
	perl -e '
		my ($n, $status) = @ARGV;
		my @g = gmtime;
		my $m = (qw(Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec))[$g[4]];
		my $t = sprintf("%02d/%s/%04d:%02d:%02d:%02d +0000", $g[3], $m,
				$g[5] + 1900, $g[2], $g[1], $g[0]);
		print qq(203.0.113.9 - - [$t] "GET /shop?id=$_ HTTP/1.1" $status 512 "-" "t"\n) for 1 .. $n;
	' "$1" "$2"
}

PRODUCED=0
produce() {   # N STATUS
	lines "$1" "$2" >"$TAP_TMP/batch.log"
	agg_produce "$BROKERS" "$TOPIC" "$TAP_TMP/batch.log" || bail_out "kcat failed"
	PRODUCED=$((PRODUCED + $1))
}

# Requests whose body's status is $1 (firing or resolved) and, with $2, that
# were answered $2, of rule $3 (default errors-5xx); one a line, as the
# receiver logged them.
requests() {
	[ -f "$RX/requests" ] || return 0
	grep -F "\"status\":\"$1\"" "$RX/requests" | grep -F "\"rule\":\"${3:-errors-5xx}\"" |
		awk -F '\t' -v s="${2:-}" 's == "" || $1 == s'
}
delivered() {   # STATUS [RULE]: how many were taken
	requests "$1" 200 "${2:-}" | wc -l
}

# The checks of one delivered body (JSON::PP, not the program's jansson):
# prints what is wrong, nothing when all is right.
body_check() {   # STATUS
	requests "$1" 200 | head -n 1 | cut -f 2- | perl -MJSON::PP -ne '
		my ($auth, $json) = split /\t/, $_, 2;
		my $b = eval { decode_json($json) } or do { print "not JSON: $json\n"; exit };
		my $firing = $b->{status} eq "firing";
		my $head = $firing ? ":rotating_light: FIRING" : ":white_check_mark: RESOLVED";
		my @bad;
		push @bad, "Authorization: $auth" unless $auth eq "Bearer t0ken-$ENV{ALRT_SUFFIX}";
		push @bad, "text: $b->{text}" unless $b->{text} =~
			/^\Q$head\E errors-5xx: status ~ \^5 at \d+\.\d% of (\d+) hits over 5s \(threshold 50%\)$/
			and $1 == $b->{total};
		push @bad, "rule" unless $b->{rule} eq "errors-5xx";
		push @bad, "dimension" unless $b->{dimension} eq "status";
		push @bad, "match" unless $b->{match} eq "^5";
		push @bad, "kind" unless $b->{kind} eq "share";
		push @bad, "value" if exists $b->{value};
		push @bad, "threshold" unless $b->{threshold} == 0.5;
		push @bad, "over_seconds" unless $b->{over_seconds} == 5;
		push @bad, "at" unless $b->{at} =~ /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
		push @bad, "observed" unless $firing ? $b->{observed} > 0.5 : $b->{observed} <= 0.5;
		push @bad, "hits/total" unless $b->{total} ?
			abs($b->{hits} / $b->{total} - $b->{observed}) < 1e-9 : !$b->{observed};
		print join(", ", @bad), "\n" if @bad;
	'
}

receiver "$RX" 2
wait_until 30 test -s "$RX/port" || bail_out "the receiver did not start: $(cat "$RX/receiver.err")"
export ALRT_SUFFIX=$$
RULE=(
	"alerts_every: 1s"
	"alerts:"
	"  - name: errors-5xx"
	"    dimension: status"
	"    match: '^5'"
	"    over: 5s"
	"    share_above: 50%"
	"    min_hits: 10"
	"    webhook: http://127.0.0.1:$(cat "$RX/port")/hooks/logtally"
	"    headers: {Authorization: \"Bearer t0ken-\${ALRT_SUFFIX}\"}"
	"  - name: slow-checkout"
	"    dimension: url"
	"    match: '^/checkout'"
	"    over: 1m"
	"    p95_above: 500ms"
	"    webhook: http://127.0.0.1:$(cat "$RX/port")/hooks/logtally"
	"  - {name: slow-site, dimension: url, over: 1m, p99_above: 600ms,"
	"     webhook: 'http://127.0.0.1:$(cat "$RX/port")/hooks/logtally'}"
	"  - {name: big-downloads, dimension: url, match: '^/downloads/', over: 1m,"
	"     bytes_above: 1GB, webhook: 'http://127.0.0.1:$(cat "$RX/port")/hooks/logtally'}"
)
agg_config "$TAP_TMP/agg.yml" "$BROKERS" "$TOPIC" "$DB" "${RULE[@]}"
agg_start agg "$TAP_TMP/agg.yml"
A_PID=$AGG_PID
port=$(agg_wait_port agg)
if [ -n "$port" ] && grep -q 'alerts: 4 rules, evaluated every 1s' "$TAP_TMP/agg.err"; then
	ok "the aggregator starts with 4 alert rules evaluated every second"
else
	not_ok "the aggregator starts with 4 alert rules evaluated every second" \
	       "$(tail -n 20 "$TAP_TMP/agg.err")"
fi

# A second aggregator on the same database, with a topic and group of its
# own and the same rule: the first holds the lead, so that a rule pages
# once, not once per aggregator.
TOPIC_B=$(agent_topic agg-alerts-b)
agg_config "$TAP_TMP/b.yml" "$BROKERS" "$TOPIC_B" "$DB" "${RULE[@]}"
wait_until 30 grep -q 'alerts: this aggregator evaluates the 4 rules' "$TAP_TMP/agg.err"
agg_start b "$TAP_TMP/b.yml"
B_PID=$AGG_PID
check "a second aggregator on the same database leaves the rules to the first" \
	wait_until 30 grep -q 'alerts: another aggregator on this database evaluates' "$TAP_TMP/b.err"

# 40 of 50 lines are 500s: 80% > 50%, 50 hits >= min_hits. Then, from
# the round that fires, 200s only, a few every second, until the rule
# resolves: the 500s leave the span or are outweighed.
assigned() {
	grep -q 'partition [0-9]* assigned' "$TAP_TMP/agg.err"
}
fired() {
	grep -q 'alerts: errors-5xx firing' "$TAP_TMP/agg.err"
}
LAST_FEED=-1
feed_until_resolved() {
	[ "$(delivered resolved)" -ge 1 ] && return 0
	if [ "$SECONDS" != "$LAST_FEED" ]; then
		produce 5 200
		LAST_FEED=$SECONDS
	fi
	return 1
}
wait_until 30 assigned
produce 40 500
produce 10 200
wait_until 60 fired
wait_until 60 feed_until_resolved
attempts=$(requests firing | cut -f 1 | tr '\n' ' ')
if [ "$(delivered firing)" = 1 ] && [ "$(requests firing | wc -l)" -ge 3 ] &&
   [ "$(requests firing | head -n 2 | cut -f 1 | tr '\n' ' ')" = "503 503 " ]; then
	ok "the rule fires: the message is retried past two 503s and taken ($attempts)"
else
	not_ok "the rule fires: the message is retried past two 503s and taken" \
	       "answers: '$attempts'; $(tail -n 10 "$TAP_TMP/agg.err")"
fi
check "the firing message: Slack text, structured fields, the rule's header" \
	test -z "$(body_check firing)" -a "$(delivered firing)" = 1
[ -z "$(body_check firing)" ] || diag "$(body_check firing)"

check "after 200s only the rule resolves; the body holds the fields" \
	test "$(delivered resolved)" = 1 -a -z "$(body_check resolved)"
[ -z "$(body_check resolved)" ] || diag "$(body_check resolved)"

# Three more rounds over 200s only: nothing more is said.
before=$(grep -c . "$RX/requests")
rounds=$(agg_metric "$port" logtally_aggregator_alert_rounds_total)
produce 5 200
wait_until 30 agg_caught_up "$DB" "$BROKERS" "$TOPIC"
metrics_ok() {
	local m=logtally_aggregator_alert_notifications_total
	[ "$(agg_metric "$port" "$m{rule=\"errors-5xx\",status=\"firing\"}")" = 1 ] &&
	[ "$(agg_metric "$port" "$m{rule=\"errors-5xx\",status=\"resolved\"}")" = 1 ] &&
	[ "$(agg_metric "$port" logtally_aggregator_alert_failures_total)" = 2 ] &&
	[ "$(agg_metric "$port" logtally_aggregator_alert_dropped_total)" = 0 ] &&
	[ "$(agg_metric "$port" "logtally_aggregator_alerts_firing{rule=\"errors-5xx\"}")" = 0 ]
}
check "metrics: 1 firing and 1 resolved delivered, 2 failed attempts, none dropped, none firing" \
	wait_until 10 metrics_ok
rounds_passed() {
	[ "$(agg_metric "$port" logtally_aggregator_alert_rounds_total)" -ge $((rounds + 3)) ]
}
wait_until 30 rounds_passed
if [ "$(delivered firing)" = 1 ] && [ "$(delivered resolved)" = 1 ] &&
   [ "$(grep -c . "$RX/requests")" = "$before" ]; then
	ok "exactly one firing and one resolved message reach the receiver"
else
	not_ok "exactly one firing and one resolved message reach the receiver" \
	       "$(cat "$RX/requests")"
fi

if [ "$(agg_stored "$DB" "$TOPIC")" = "$PRODUCED" ] &&
   [ "$(agg_total "$DB" status)" = "$PRODUCED" ] &&
   [ "$(agg_total "$DB" status 60)" = "$PRODUCED" ]; then
	ok "the counts are exact: $PRODUCED lines, $PRODUCED status hits"
else
	not_ok "the counts are exact" "produced $PRODUCED, stored $(agg_stored "$DB" "$TOPIC"),
status hits $(agg_total "$DB" status), in 1m $(agg_total "$DB" status 60)"
fi

# The duration and bytes rules. The rows go into the current base window
# of dimension url, which the lines above never reach (/shop only): 100
# timed hits of /checkout, 90 of them in the bucket up to 100ms and 10 in
# (500ms, 630ms], the largest 620ms, so p95 = 500 + 120 * 5/10 = 560ms
# and p99 = 500 + 120 * 9/10 = 608ms (slow-site reads the rows by bucket
# alone: the /shop lines have no duration); and 3 GB of /downloads/big.iso.
W=$(date -u -d "@$(( $(date +%s) / 5 * 5 ))" '+%F %T')
bucket_rows() {   # VALUE LE_US HITS: latency rows through latency_buckets
	echo "INSERT INTO latency SELECT 5, '$W', 'url', '$1', bucket, $3
		FROM latency_buckets WHERE le_us = $2;"
}
agg_sql "$DB" "INSERT INTO counts (window_seconds, window_start, dimension, value,
		hits, bytes, duration_count, duration_us_sum, duration_us_max)
	VALUES (5, '$W', 'url', '/checkout', 120, 0, 100, 15200000, 620000),
	       (5, '$W', 'url', '/downloads/big.iso', 2, 3000000000, 0, 0, 0);
	$(bucket_rows /checkout 100000 90) $(bucket_rows /checkout 630000 10)" ||
	bail_out "cannot write the latency rows"

# The checks of the first delivered body of rule $2 with status $1, as
# body_check's: what is wrong, nothing when all is right.
measure_check() {   # STATUS RULE
	requests "$1" 200 "$2" | head -n 1 | cut -f 3- | perl -MJSON::PP -ne '
		my $b = eval { decode_json($_) } or do { print "not JSON: $_\n"; exit };
		my $firing = $b->{status} eq "firing";
		my $head = $firing ? ":rotating_light: FIRING" : ":white_check_mark: RESOLVED";
		my @bad;
		if ($b->{rule} eq "slow-checkout") {
			my $p95 = $firing ? "560ms \\(between 500ms and 620ms\\)" :
				"99ms \\(between 80ms and 100ms\\)";
			push @bad, "text: $b->{text}" unless $b->{text} =~
				/^\Q$head\E slow-checkout: url ~ \^\/checkout p95 $p95 of 100 timed hits over 1m \(threshold 500ms\)$/;
			push @bad, "kind" unless $b->{kind} eq "p95_above";
			push @bad, "observed $b->{observed}" unless $b->{observed} == ($firing ? 560000 : 99000);
			push @bad, "between" unless join(" ", @{$b->{observed_between}}) eq
				($firing ? "500000 620000" : "80000 100000");
			push @bad, "threshold" unless $b->{threshold} == 500000;
			push @bad, "timed" unless $b->{timed} == 100;
			push @bad, "hits" unless $b->{hits} == 120;
		} elsif ($b->{rule} eq "slow-site") {
			my $p99 = $firing ? "608ms \\(between 500ms and 620ms\\)" :
				"99.8ms \\(between 80ms and 100ms\\)";
			push @bad, "text: $b->{text}" unless $b->{text} =~
				/^\Q$head\E slow-site: url p99 $p99 of 100 timed hits over 1m \(threshold 600ms\)$/;
			push @bad, "kind" unless $b->{kind} eq "p99_above";
			push @bad, "observed $b->{observed}" unless $b->{observed} == ($firing ? 608000 : 99800);
		} else {
			my $bytes = $firing ? "3GB" : "0B";
			push @bad, "text: $b->{text}" unless $b->{text} =~
				/^\Q$head\E big-downloads: url ~ \^\/downloads\/ at $bytes over 1m \(threshold 1GB\)$/;
			push @bad, "kind" unless $b->{kind} eq "bytes_above";
			push @bad, "observed" unless $b->{observed} == ($firing ? 3000000000 : 0);
			push @bad, "threshold" unless $b->{threshold} == 1000000000;
		}
		print join(", ", @bad), "\n" if @bad;
	'
}
measures_fired() {
	[ "$(delivered firing slow-checkout)" -ge 1 ] && [ "$(delivered firing big-downloads)" -ge 1 ] &&
	[ "$(delivered firing slow-site)" -ge 1 ]
}
wait_until 30 measures_fired
if measures_fired && [ -z "$(measure_check firing slow-checkout)" ] &&
   [ -z "$(measure_check firing big-downloads)" ] && [ -z "$(measure_check firing slow-site)" ]; then
	ok "p95_above, p99_above and bytes_above fire on the rows: p95 560ms (between 500ms and 620ms), p99 608ms, 3GB"
else
	not_ok "p95_above, p99_above and bytes_above fire on the rows" "$(measure_check firing slow-checkout)
$(measure_check firing slow-site)
$(measure_check firing big-downloads)
$(grep -v '"rule":"errors-5xx"' "$RX/requests")"
fi

# Faster rows in their place, in one transaction: p95 = 80 + 20 * 95/100.
agg_sql "$DB" "START TRANSACTION;
	DELETE FROM latency WHERE dimension = 'url' AND value = '/checkout';
	$(bucket_rows /checkout 100000 100)
	UPDATE counts SET duration_us_sum = 10000000, duration_us_max = 100000
		WHERE dimension = 'url' AND value = '/checkout';
	DELETE FROM counts WHERE dimension = 'url' AND value = '/downloads/big.iso';
	COMMIT" || bail_out "cannot replace the latency rows"
measures_resolved() {
	[ "$(delivered resolved slow-checkout)" -ge 1 ] && [ "$(delivered resolved big-downloads)" -ge 1 ] &&
	[ "$(delivered resolved slow-site)" -ge 1 ]
}
wait_until 30 measures_resolved
if measures_resolved && [ -z "$(measure_check resolved slow-checkout)" ] &&
   [ -z "$(measure_check resolved big-downloads)" ] && [ -z "$(measure_check resolved slow-site)" ]; then
	ok "all three resolve on faster and fewer bytes: p95 99ms (between 80ms and 100ms)"
else
	not_ok "all three resolve on faster and fewer bytes" "$(measure_check resolved slow-checkout)
$(measure_check resolved slow-site)
$(measure_check resolved big-downloads)
$(grep -v '"rule":"errors-5xx"' "$RX/requests")"
fi
rounds=$(agg_metric "$port" logtally_aggregator_alert_rounds_total)
wait_until 30 rounds_passed
check "each said so once: one firing and one resolved message of each" \
	test "$(delivered firing slow-checkout) $(delivered resolved slow-checkout)" = "1 1" -a \
	     "$(delivered firing slow-site) $(delivered resolved slow-site)" = "1 1" -a \
	     "$(delivered firing big-downloads) $(delivered resolved big-downloads)" = "1 1"

agg_stop "$B_PID"
b_rc=$?
agg_stop "$A_PID"
check "both aggregators stop on SIGTERM with status 0" test $? = 0 -a "$b_rc" = 0
check "no sanitizer report in the aggregators' stderr" agg_sanitizer_clean
diag "aggregator_alerts.sh took $((SECONDS - started)) s"
