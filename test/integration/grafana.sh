#!/usr/bin/env bash
# grafana.sh: config/grafana/logtally.json, the Grafana dashboard over the
# counts table. The JSON is importable (a mysql data source input that every
# query uses, UTC, 5 s refresh, the last hour), every query reads the counts
# table only (Slowest URLs the latency table and latency_buckets), by a
# range of its primary key; and run against rows of known
# hits, with Grafana's macros expanded here for fixed ranges and intervals,
# each panel answers what the figures worked out by hand (tables) or by a
# Perl oracle over the same rows (time series) say it must.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=aggregator_lib.sh
. "$(dirname "$0")/aggregator_lib.sh"

plan 36
require_dev_env
for tool in perl mariadb; do
	command -v "$tool" >/dev/null || bail_out "$tool is missing"
done

DASHBOARD=$top_srcdir/config/grafana/logtally.json
[ -r "$DASHBOARD" ] || bail_out "$DASHBOARD is missing"
PL=$TAP_TMP/grafana.pl
SQL=$TAP_TMP/sql
mkdir -p "$SQL"

# The Perl side, one command per use:
#   json FILE           parses; the dashboard's settings
#   inputs FILE         __inputs and every datasource
#   panels FILE DIR     the eight panels; each query's rawSql into DIR/KEY.sql
#                       (trending, urls, status, errors, lines, bandwidth,
#                       slowest)
#   tables FILE...      every FROM and JOIN names counts or a subquery
#                       (slowest: latency, latency_buckets or a subquery)
#   expand FILE FROM TO INTERVAL
#                       the query with Grafana's macros expanded
#   data E ROWS         the test's rows, as INSERTs on stdout and
#                       WINDOW_SECONDS TAB START TAB DIMENSION TAB VALUE TAB
#                       HITS in ROWS
#   series KIND ROWS FROM TO INTERVAL
#                       the oracle: what panel KIND (status, errors, lines)
#                       must answer
#   explain             EXPLAIN's output on stdin reads a range of counts'
#                       primary key
#   same WANT GOT       equal line by line, numbers to within 0.0002
cat >"$PL" <<'EOF'
use strict;
use warnings;
use JSON::PP;

my %title = (trending => qr/^Trending hashtags$/, urls => qr/^Top URLs$/,
	     status => qr/^Status codes/, errors => qr/^Error share$/,
	     lines => qr/^Lines per second$/, bandwidth => qr/^Bandwidth \(top URLs by bytes\)$/,
	     slowest => qr/^Slowest URLs \(p95\)$/);

sub load {
	open(my $h, "<:raw", $_[0]) or die "$_[0]: $!\n";
	local $/;
	return JSON::PP->new->decode(<$h>);
}

sub fail { print "$_\n" for @_; exit 1; }

sub cmd_json {
	my $d = load(shift);
	my @bad;
	push @bad, "schemaVersion $d->{schemaVersion}"
		unless ($d->{schemaVersion} // 0) =~ /^3[6-9]$/;
	push @bad, "timezone is not utc" unless ($d->{timezone} // "") eq "utc";
	push @bad, "refresh is not 5s" unless ($d->{refresh} // "") eq "5s";
	push @bad, "time is not the last hour"
		unless ($d->{time}{from} // "") eq "now-1h" && ($d->{time}{to} // "") eq "now";
	push @bad, "no title or uid" unless $d->{title} && $d->{uid};
	fail(@bad) if @bad;
}

# Every hash that names a datasource, anywhere in the dashboard.
sub datasources {
	my ($node, $out) = @_;
	if (ref $node eq "HASH") {
		push @$out, $node->{datasource} if exists $node->{datasource};
		datasources($_, $out) for values %$node;
	} elsif (ref $node eq "ARRAY") {
		datasources($_, $out) for @$node;
	}
}

sub cmd_inputs {
	my $d = load(shift);
	my @in = @{$d->{__inputs} // []};
	fail("__inputs: want one input, got " . scalar @in) unless @in == 1;
	fail("__inputs: want DS_LOGTALLY, a mysql datasource")
		unless $in[0]{name} eq "DS_LOGTALLY" && $in[0]{type} eq "datasource"
		    && $in[0]{pluginId} eq "mysql";
	my @ds;
	datasources($d->{panels}, \@ds);
	for my $ds (@ds) {
		fail("a datasource is not DS_LOGTALLY: " . JSON::PP->new->canonical->encode($ds))
			unless ref $ds eq "HASH" && $ds->{type} eq "mysql"
			    && $ds->{uid} eq '${DS_LOGTALLY}';
	}
	for my $p (@{$d->{panels}}) {
		next if $p->{type} eq "text";
		fail("panel $p->{title}: no datasource or no query")
			unless $p->{datasource} && @{$p->{targets} // []};
		fail("panel $p->{title}: a query without the datasource")
			if grep { !$_->{datasource} } @{$p->{targets}};
	}
	print scalar(@ds), "\n";
}

sub cmd_panels {
	my ($file, $dir) = @_;
	my $d = load($file);
	my @p = @{$d->{panels}};
	my (%got, @bad);
	for my $key (sort keys %title) {
		my @m = grep { ($_->{title} // "") =~ $title{$key} } @p;
		if (@m != 1 || @{$m[0]{targets} // []} != 1) {
			push @bad, "$key: want one panel of one query, got " . scalar @m;
			next;
		}
		$got{$key} = $m[0];
		my $t = $m[0]{targets}[0];
		push @bad, "$key: not a raw SQL query" unless $t->{rawQuery} && $t->{rawSql};
		push @bad, "$key: its description does not say which window size it reads"
			unless ($m[0]{description} // "") =~ /5 s rows/;
		open(my $h, ">", "$dir/$key.sql") or die;
		print $h $t->{rawSql};
	}
	fail(@bad) if @bad;
	my %type = (trending => "table", urls => "table|bargauge", status => "timeseries",
		    errors => "timeseries|stat", lines => "timeseries",
		    bandwidth => "table|bargauge", slowest => "table|bargauge");
	my %format = (trending => "table", urls => "table", status => "time_series",
		      errors => "time_series", lines => "time_series",
		      bandwidth => "table", slowest => "table");
	for my $key (sort keys %type) {
		push @bad, "$key: type $got{$key}{type}" unless $got{$key}{type} =~ /^(?:$type{$key})$/;
		push @bad, "$key: format $got{$key}{targets}[0]{format}"
			unless $got{$key}{targets}[0]{format} eq $format{$key};
	}
	push @bad, "status: not stacked"
		unless ($got{status}{fieldConfig}{defaults}{custom}{stacking}{mode} // "") eq "normal";
	push @bad, "errors: unit is not percent"
		unless ($got{errors}{fieldConfig}{defaults}{unit} // "") eq "percent";
	push @bad, "trending: the description does not give the formula"
		unless $got{trending}{description} =~ m{score = \(n - e\) / SQRT\(e \+ 1\)};
	my @text = grep { $_->{type} eq "text" } @p;
	push @bad, "no text panel on consumer lag and flush age from /metrics"
		unless @text == 1 && $text[0]{options}{content} =~ /lag/i
		    && $text[0]{options}{content} =~ /flush/i
		    && $text[0]{options}{content} =~ m{/metrics}
		    && $text[0]{options}{content} =~ /logtally_aggregator_/;
	push @bad, "slowest: the description does not state the error bound"
		unless $got{slowest}{description} =~ /28%/;
	push @bad, "want 8 panels, got " . scalar @p unless @p == 8;
	fail(@bad) if @bad;
}

sub cmd_tables {
	my @bad;
	for my $file (@_) {
		open(my $h, "<", $file) or die;
		my $sql = do { local $/; <$h> };
		my @from = $sql =~ /\b(?:FROM|JOIN)\s+(\(|[^\s(),;]+)/gi;
		my ($main, @also) = $file =~ /slowest/ ? ("latency", "latency_buckets") : ("counts");
		my %ok = map { $_ => 1 } $main, @also, "(";
		push @bad, "$file: reads no $main table" unless grep { $_ eq $main } @from;
		push @bad, "$file: reads $_" for grep { !$ok{$_} } @from;
		push @bad, "$file: a table after counts"
			if $sql =~ /\bFROM\s+counts(?:\s+(?:AS\s+)?\w+)?\s*,/i;
	}
	fail(@bad) if @bad;
}

# Grafana 9 and 10 expand a MySQL query in three steps, mirrored here:
# the browser replaces $__interval ("5s", "1m", "1h") and $__interval_ms;
# pkg/tsdb/sqleng replaces $__unixEpochFrom() and $__unixEpochTo(); then
# pkg/tsdb/mysql/macros.go each $__name(args). Only the macros the
# dashboard uses are known; any other fails the test.
sub interval_text {
	my $s = shift;
	return $s % 86400 == 0 ? $s / 86400 . "d" : $s % 3600 == 0 ? $s / 3600 . "h"
	     : $s % 60 == 0 ? $s / 60 . "m" : "${s}s";
}

sub interval_seconds {
	my %unit = (s => 1, m => 60, h => 3600, d => 86400);
	$_[0] =~ /^(\d+)([smhd])$/ or die "interval $_[0]\n";
	return $1 * $unit{$2};
}

sub macro {
	my ($name, $from, $to, @args) = @_;
	return "$args[0] BETWEEN FROM_UNIXTIME($from) AND FROM_UNIXTIME($to)"
		if $name eq "__timeFilter";
	return "FROM_UNIXTIME($from)" if $name eq "__timeFrom";
	return "FROM_UNIXTIME($to)" if $name eq "__timeTo";
	if ($name eq "__timeGroupAlias") {	# a third argument only fills gaps
		my $s = interval_seconds($args[1]);
		return "UNIX_TIMESTAMP($args[0]) DIV $s * $s AS \"time\"";
	}
	die "unknown macro \$$name\n";
}

sub cmd_expand {
	my ($file, $from, $to, $iv) = @_;
	open(my $h, "<", $file) or die;
	my $sql = do { local $/; <$h> };
	$sql =~ s/\$__interval_ms\b/$iv * 1000/ge;
	$sql =~ s/\$__interval\b/interval_text($iv)/ge;
	$sql =~ s/\$__unixEpochFrom\(\)/$from/g;
	$sql =~ s/\$__unixEpochTo\(\)/$to/g;
	$sql =~ s{\$(\w+)\(([^)]*)\)}
		 {macro($1, $from, $to, map { s/^\s+|\s+$//gr } split /,/, $2)}ge;
	die "left unexpanded: $1\n" if $sql =~ /(\$\S+)/;
	print "$sql\n";
}

# The rows, as 5 s windows of known hits; stored as retention would leave
# them, shortened to keep the test small: 5 s rows for the last 2 hours,
# 60 s rows for the last day, 3600 s rows for all. E is the end of every
# range the test asks about, on the hour.
sub cmd_data {
	my ($e, $rows) = @_;
	my %v;
	my $add = sub { my ($t, $dim, $value, $n) = @_; $v{$t}{$dim}{$value} += $n if $n; };
	# Status: every window of the last 8 hours, and at E; a 503 burst.
	for (my $t = $e - 8 * 3600; $t <= $e; $t += 5) {
		my $k = ($t - $e + 8 * 3600) / 5;
		$add->($t, "status", "200", 10 + $k % 7);
		$add->($t, "status", "301", $k % 4 == 0);
		$add->($t, "status", "304", 2 + ($k % 3 == 0));
		$add->($t, "status", "404", 1 + $k % 2);
		$add->($t, "status", "500", $k % 5 == 0);
		$add->($t, "status", "503", 2 * ($k % 11 == 0) + 20 * ($t >= $e - 1200 && $t < $e - 900));
		$add->($t, "status", "-", $k % 13 == 0);
	}
	# URLs: half of each total at E - 3600, the rest at E - 5; /edge just
	# outside [E - 3600, E); /archive only in the rollups, /ancient only
	# in the 3600 s rows.
	my %url = ("/search" => 40, "/" => 37, "/cart" => 31, "/api/v1/items" => 29,
		   "/login" => 23, "/static/app.js" => 19, "/about" => 17, "/help" => 13,
		   "/faq" => 11, "/blog" => 7, "/contact" => 5, "/careers" => 3);
	for my $u (keys %url) {
		$add->($e - 3600, "url", $u, int($url{$u} / 2));
		$add->($e - 5, "url", $u, $url{$u} - int($url{$u} / 2));
	}
	$add->($e - 3605, "url", "/edge", 1000);
	$add->($e, "url", "/edge", 1000);
	$add->($e - 5 * 3600, "url", "/archive", 100);
	$add->($e - 10 * 86400, "url", "/ancient", 500);
	# Hashtags around the trending periods at E, the windows that start
	# in (E - 3900, E - 300] and in (E - 300, E]: the newest window, at
	# E, counts whole, as /api/trending takes it.
	for (my $t = $e - 7195; $t <= $e; $t += 5) {
		my $recent = $t > $e - 300;
		my $r = ($t - $e + 295) / 5;	# 0.. in the recent period
		$add->($t, "hashtag", "flat", 12);
		next if $t <= $e - 3900;
		$add->($t, "hashtag", "jump", $recent ? 2 : ($t - $e + 3895) % 10 == 0);
		$add->($t, "hashtag", "fading", $recent ? ($r < 10) : 5);
		$add->($t, "hashtag", "mild", $recent && $r < 20 ? 2 : 1);
		$add->($t, "hashtag", "slight", $recent && $r < 10 ? 6 : 5);
	}
	$add->($e - 3900, "hashtag", "edge", 2);	# just before the hour at E
	$add->($e - 3895, "hashtag", "edge", 1);
	$add->($e - 295, "hashtag", "edge", 3);
	$add->($e - 100, "hashtag", "new$_", $_) for 2 .. 7;
	$add->($e, "hashtag", "tiny", 1);
	$add->($e - 3995, "hashtag", "old", 50);
	$add->($e + 5, "hashtag", "future", 50);

	my %row;
	for my $t (keys %v) {
		for my $dim (keys %{$v{$t}}) {
			for my $value (keys %{$v{$t}{$dim}}) {
				my $n = $v{$t}{$dim}{$value};
				$row{5}{$t}{$dim}{$value} += $n if $t >= $e - 7200;
				$row{60}{$t - $t % 60}{$dim}{$value} += $n if $t >= $e - 86400;
				$row{3600}{$t - $t % 3600}{$dim}{$value} += $n;
			}
		}
	}
	open(my $out, ">", $rows) or die;
	my @values;
	for my $ws (sort { $a <=> $b } keys %row) {
		for my $t (sort { $a <=> $b } keys %{$row{$ws}}) {
			my @g = gmtime($t);
			my $dt = sprintf("%04d-%02d-%02d %02d:%02d:%02d", $g[5] + 1900, $g[4] + 1, @g[3, 2, 1, 0]);
			for my $dim (sort keys %{$row{$ws}{$t}}) {
				for my $value (sort keys %{$row{$ws}{$t}{$dim}}) {
					my $n = $row{$ws}{$t}{$dim}{$value};
					print $out "$ws\t$t\t$dim\t$value\t$n\n";
					push @values, "($ws,'$dt','$dim','$value',$n)";
				}
			}
		}
	}
	while (my @batch = splice(@values, 0, 1000)) {
		print "INSERT INTO counts (window_seconds, window_start, dimension, value, hits) VALUES\n",
		      join(",\n", @batch), ";\n";
	}
}

# The time series panels as specified: rows of the window size the
# interval calls for, starting in [FROM, TO], summed per interval.
sub cmd_series {
	my ($kind, $rows, $from, $to, $iv) = @_;
	my $ws = $iv >= 3600 ? 3600 : $iv >= 60 ? 60 : 5;
	my (%class, %all, %err);
	open(my $h, "<", $rows) or die;
	while (<$h>) {
		chomp;
		my ($size, $t, $dim, $value, $n) = split /\t/;
		next unless $size == $ws && $dim eq "status" && $t >= $from && $t <= $to;
		my $b = $t - $t % $iv;
		my $c = substr($value, 0, 1);
		$class{$b}{"${c}xx"} += $n if $c =~ /^[2-5]$/;
		$err{$b} += $n if $c eq "5";
		$all{$b} += $n;
	}
	for my $b (sort { $a <=> $b } keys %all) {
		if ($kind eq "status") {
			printf("%d\t%s\t%.6f\n", $b, $_, $class{$b}{$_} / $iv) for sort keys %{$class{$b}};
		} elsif ($kind eq "errors") {
			printf("%d\t%.6f\n", $b, 100 * ($err{$b} // 0) / $all{$b});
		} else {
			printf("%d\t%.6f\n", $b, $all{$b} / $iv);
		}
	}
}

sub cmd_explain {
	my @head = split /\t/, scalar <STDIN>;
	chomp @head;
	# 139 bytes: window_seconds (4), dimension (VARCHAR(32) of utf8mb4: 130)
	# and window_start (5), the whole primary key but the value (and, in
	# latency, the bucket); latency_buckets, 62 rows, is read as it may.
	my ($n, @bad) = (0);
	while (<STDIN>) {
		chomp;
		my %r;
		@r{@head} = split /\t/;
		next unless $r{table} eq "counts" || $r{table} eq "latency";
		$n++;
		push @bad, "$r{table} read by $r{type} on key $r{key}, length $r{key_len}"
			unless $r{type} eq "range" && $r{key} eq "PRIMARY" && $r{key_len} == 139;
	}
	push @bad, "no read of counts or latency" unless $n;
	fail(@bad) if @bad;
}

sub cmd_same {
	my ($want, $got) = @_;
	open(my $w, "<", $want) or die;
	open(my $g, "<", $got) or die;
	my @w = <$w>;
	my @g = <$g>;
	chomp(@w, @g);
	my @bad;
	push @bad, sprintf("%d lines wanted, %d got", scalar @w, scalar @g) if @w != @g;
	for my $i (0 .. ($#w > $#g ? $#w : $#g)) {
		my @a = split /\t/, $w[$i] // "", -1;
		my @b = split /\t/, $g[$i] // "", -1;
		my $same = @a == @b;
		for my $j (0 .. $#a) {
			last unless $same;
			my $num = qr/^-?\d+(?:\.\d+)?$/;
			$same = $a[$j] =~ $num && ($b[$j] // "") =~ $num
			      ? abs($a[$j] - $b[$j]) <= 0.0002 : $a[$j] eq ($b[$j] // "");
		}
		push @bad, "line " . ($i + 1) . ": want '" . ($w[$i] // "") . "', got '" . ($g[$i] // "") . "'"
			unless $same;
	}
	fail(@bad[0 .. ($#bad < 9 ? $#bad : 9)]) if @bad;
}

my $cmd = shift;
my %cmd = (json => \&cmd_json, inputs => \&cmd_inputs, panels => \&cmd_panels,
	   tables => \&cmd_tables, expand => \&cmd_expand, data => \&cmd_data,
	   series => \&cmd_series, explain => \&cmd_explain, same => \&cmd_same);
$cmd{$cmd} or die "unknown command $cmd\n";
$cmd{$cmd}->(@ARGV);
EOF

# same DESCRIPTION WANT GOT: ok when both files agree (numbers to 0.0002).
same() {
	local out
	if out=$(perl "$PL" same "$2" "$3" 2>&1); then
		ok "$1"
	else
		not_ok "$1" "$out"
	fi
}

# The data source's Session timezone: +00:00, as the README asks.
run_sql() {   # FILE
	agg_sql "$DB" "SET time_zone = '+00:00'; $(cat "$1")"
}

# --- 1. the JSON ------------------------------------------------------------

check "logtally.json parses; schemaVersion 36..39, UTC, refresh 5s, the last hour" \
	perl "$PL" json "$DASHBOARD"
if out=$(perl "$PL" inputs "$DASHBOARD" 2>&1); then
	ok "__inputs has one mysql data source, DS_LOGTALLY, and all $out datasources in the panels are it"
else
	not_ok "__inputs has one mysql data source, DS_LOGTALLY, and every datasource is it" "$out"
fi
check "the panels: trending hashtags, top URLs, status classes stacked, error share, lines per second, bandwidth, slowest URLs, a text on /metrics" \
	perl "$PL" panels "$DASHBOARD" "$SQL"
KEYS="trending urls status errors lines bandwidth slowest"
for key in $KEYS; do
	[ -s "$SQL/$key.sql" ] || bail_out "no query for $key: see above"
done
check "every query's FROM and JOIN name the counts table or a subquery (slowest: latency, latency_buckets)" \
	perl "$PL" tables "$SQL"/*.sql

E=$(perl -MTime::Local=timegm -e 'print timegm(0, 0, 12, 24, 10, 2026)')
expand_all() {   # FROM TO INTERVAL
	local key
	for key in $KEYS; do
		perl "$PL" expand "$SQL/$key.sql" "$1" "$2" "$3" >"$SQL/$key.$1.$2.$3" || return 1
	done
}
check "every query expands with the test's copy of Grafana's macros" \
	expand_all $((E - 3600)) "$E" 5

# --- 2. the queries against known rows ---------------------------------------

DB=logtally_graf_$$
agg_mariadb -e "CREATE DATABASE $DB" || bail_out "cannot create database $DB"
cleanup_add "agg_mariadb -e 'DROP DATABASE IF EXISTS $DB'"
perl "$PL" data "$E" "$TAP_TMP/rows" >"$TAP_TMP/rows.sql"
if agg_mariadb "$DB" <"$top_srcdir/config/schema.sql" &&
   agg_mariadb "$DB" <"$TAP_TMP/rows.sql"; then
	ok "database $DB: config/schema.sql and $(wc -l <"$TAP_TMP/rows") rows of counts"
else
	bail_out "cannot fill database $DB"
fi

explain_all() {
	local key
	for key in $KEYS; do
		agg_mariadb -B "$DB" -e "SET time_zone = '+00:00';
			EXPLAIN $(cat "$SQL/$key.$((E - 3600)).$E.5")" |
			perl "$PL" explain || { echo "($key)"; return 1; }
	done
}
check "EXPLAIN: every query reads counts (slowest: latency) by a range of its primary key (window size, dimension, time)" \
	explain_all

# Trending, n: hits of the windows that start in (TO - 300, TO], the newest
# whole, as /api/trending takes it; b: those in (TO - 3900, TO - 300];
# e = b * 300 / 3600; score = (n - e) / sqrt(e + 1); columns: hashtag,
# score, n / 300, b / 3600.
trending() {   # DESCRIPTION TO HASHTAG SCORE CURRENT BASELINE...
	local description=$1 to=$2
	shift 2
	printf '%s\t%s\t%s\t%s\n' "$@" >"$TAP_TMP/want.trending"
	perl "$PL" expand "$SQL/trending.sql" $((to - 3600)) "$to" 5 >"$TAP_TMP/trending.sql" &&
		run_sql "$TAP_TMP/trending.sql" >"$TAP_TMP/got.trending"
	same "$description" "$TAP_TMP/want.trending" "$TAP_TMP/got.trending"
}
# At E:
#   jump    n 120, b 360: e 30, 90 / sqrt(31) = 16.16
#   newK    n K, b 0: K / sqrt(1) = K
#   edge    n 3 (at E - 295), b 1 (at E - 3895; not the 2 at E - 3900): e 1/12, 2.9167 / sqrt(1.0833) = 2.80
#   mild    n 80, b 720: e 60, 20 / sqrt(61) = 2.56
#   tiny    n 1 (at E), b 0 (0 to 1 hit): 1 / sqrt(1) = 1.00
#   slight  n 310, b 3600: e 300, 10 / sqrt(301) = 0.58, the 11th: left out
#   flat    n 720, b 8640: e 720, score 0; fading: n 10, b 3600, below 0
#   old (E - 3995) and future (E + 5) are in neither period.
trending "trending at E: the top 10 by (n - e) / sqrt(e + 1), scores to 2 decimals, current and baseline rates" \
	"$E" \
	jump 16.16 0.4 0.1 \
	new7 7.00 0.02333 0 \
	new6 6.00 0.02 0 \
	new5 5.00 0.01667 0 \
	new4 4.00 0.01333 0 \
	new3 3.00 0.01 0 \
	edge 2.80 0.01 0.00028 \
	mild 2.56 0.26667 0.2 \
	new2 2.00 0.00667 0 \
	tiny 1.00 0.00333 0
# At E - 570, off the minute, so that 60 s rows would answer otherwise;
# fewer than 10 rise:
#   fading  n 300, b 3030: e 252.5, 47.5 / sqrt(253.5) = 2.98
#   slight  the same figures: a tie, in name order
#   mild    n 60, b 606: e 50.5, 9.5 / sqrt(51.5) = 1.32
#   jump    n 30, b 303: e 25.25, 4.75 / sqrt(26.25) = 0.93
#   flat    n 720, b 8640: e 720, score 0: left out
#   edge    n 0, b 3 and old n 0, b 50: below 0; the others come later.
trending "trending at E - 570: only scores above 0 (not flat's 0), ties in name order" \
	$((E - 570)) \
	fading 2.98 1 0.84167 \
	slight 2.98 1 0.84167 \
	mild 1.32 0.2 0.16833 \
	jump 0.93 0.1 0.08417

# Top URLs: each url's hits are split between E - 3600 and E - 5; /edge's
# 1000 at E - 3605 and 1000 at E are outside [E - 3600, E) in 5 s rows,
# the first inside a 12 h or 14 d range (its 60 s and 3600 s rows start
# at E - 3660 and E - 7200); /archive (E - 5 h) is only in the rollups,
# /ancient (E - 10 d) only in the 3600 s rows.
top_urls() {   # DESCRIPTION FROM TO URL HITS...
	local description=$1 from=$2 to=$3
	shift 3
	printf '%s\t%s\n' "$@" >"$TAP_TMP/want.urls"
	perl "$PL" expand "$SQL/urls.sql" "$from" "$to" 5 >"$TAP_TMP/urls.sql" &&
		run_sql "$TAP_TMP/urls.sql" >"$TAP_TMP/got.urls"
	same "$description" "$TAP_TMP/want.urls" "$TAP_TMP/got.urls"
}
top_urls "top URLs, last hour (5 s rows): the 10 largest sums in order" \
	$((E - 3600)) "$E" /search 40 / 37 /cart 31 /api/v1/items 29 /login 23 \
	/static/app.js 19 /about 17 /help 13 /faq 11 /blog 7
top_urls "top URLs, an hour ending 20 s before E: 5 s rows, the hits at E - 5 left out" \
	$((E - 3600)) $((E - 20)) /search 20 / 18 /cart 15 /api/v1/items 14 /login 11 \
	/static/app.js 9 /about 8 /help 6 /faq 5 /blog 3
top_urls "top URLs, 6 hours ending 20 s before E: still 5 s rows (no /archive)" \
	$((E - 21620)) $((E - 20)) /edge 1000 /search 20 / 18 /cart 15 /api/v1/items 14 \
	/login 11 /static/app.js 9 /about 8 /help 6 /faq 5
top_urls "top URLs, 12 hours: the 60 s rollup" \
	$((E - 43200)) "$E" /edge 1000 /archive 100 /search 40 / 37 /cart 31 \
	/api/v1/items 29 /login 23 /static/app.js 19 /about 17 /help 13
top_urls "top URLs, 14 days: the 3600 s rollup" \
	$((E - 14 * 86400)) "$E" /edge 1000 /ancient 500 /archive 100 /search 40 / 37 \
	/cart 31 /api/v1/items 29 /login 23 /static/app.js 19 /about 17

# The time series, for ranges and intervals that read each window size
# (5 s rows exist for the last 2 hours only): the Perl oracle's figures
# over the same rows, interval by interval.
for range in "$((E - 3600)) $E 5" "$((E - 7200)) $E 30" "$((E - 3583)) $((E - 13)) 60" \
	     "$((E - 86400)) $E 120" "$((E - 86400)) $E 1800" "$((E - 86400)) $E 3600"; do
	read -r from to iv <<<"$range"
	what="[E - $((E - from)), E$([ "$to" = "$E" ] || echo " - $((E - to))")] at ${iv}s"
	for key in status errors lines; do
		perl "$PL" series "$key" "$TAP_TMP/rows" "$from" "$to" "$iv" >"$TAP_TMP/want.$key"
		perl "$PL" expand "$SQL/$key.sql" "$from" "$to" "$iv" >"$TAP_TMP/$key.sql" &&
			run_sql "$TAP_TMP/$key.sql" >"$TAP_TMP/got.$key"
	done
	same "$what: 2xx, 3xx, 4xx, 5xx hits per second in all $(cut -f 1 "$TAP_TMP/want.status" | sort -u | wc -l) intervals" \
	     "$TAP_TMP/want.status" "$TAP_TMP/got.status"
	same "$what: the 5xx share of all status hits, in percent" \
	     "$TAP_TMP/want.errors" "$TAP_TMP/got.errors"
	same "$what: lines per second (status hits, '-' included)" \
	     "$TAP_TMP/want.lines" "$TAP_TMP/got.lines"
done

# --- 3. bandwidth and slowest URLs, over rows of bytes and durations -----------

# Rows written after the checks above, so that they change none of them:
# bytes in counts for /video (5 MB) and /img/logo.png (20 kB), and latency
# histograms at E - 10 in all three window sizes (bucket b holds
# (le[b - 1], le[b]]; the nearest rank is CEIL(0.95 * timed hits)):
#   /slow          1 hit in +Inf (above 100 s): its lower bound, 100000 ms
#   /video         2 hits in bucket 40 (800, 1000] ms: rank 2, 1000.0 ms
#   /api/v1/items  5 in bucket 20 (8, 10] ms, 5 in 21 (10, 12.5]: rank 10,
#                  12.5 ms
#   /search        19 in bucket 10 (0.8, 1] ms, 1 in 30 (80, 100]: rank 19,
#                  1.0 ms
measure_rows() {
	local ws t sql=""
	for ws in 5 60 3600; do
		t="FROM_UNIXTIME(($E - 10) DIV $ws * $ws)"
		sql+="INSERT INTO counts (window_seconds, window_start, dimension, value, hits, bytes)
		      VALUES ($ws, $t, 'url', '/video', 2, 5000000), ($ws, $t, 'url', '/img/logo.png', 1, 20000)
		      ON DUPLICATE KEY UPDATE hits = hits + VALUES(hits), bytes = bytes + VALUES(bytes);
		      INSERT INTO latency (window_seconds, window_start, dimension, value, bucket, hits)
		      VALUES ($ws, $t, 'url', '/slow', 61, 1), ($ws, $t, 'url', '/video', 40, 2),
		       ($ws, $t, 'url', '/api/v1/items', 20, 5), ($ws, $t, 'url', '/api/v1/items', 21, 5),
		       ($ws, $t, 'url', '/search', 10, 19), ($ws, $t, 'url', '/search', 30, 1);"
	done
	agg_sql "$DB" "SET time_zone = '+00:00'; $sql"
}
check "rows of bytes and latency histograms added" measure_rows

panel() {   # KEY FROM TO: the panel's answer, tab-separated
	perl "$PL" expand "$SQL/$1.sql" "$2" "$3" 5 >"$TAP_TMP/$1.sql" &&
		run_sql "$TAP_TMP/$1.sql"
}
printf '%s\t%s\t%s\n' /video 5000000 2 /img/logo.png 20000 1 >"$TAP_TMP/want.bandwidth"
panel bandwidth $((E - 3600)) "$E" >"$TAP_TMP/got.bandwidth"
same "bandwidth, last hour: the paths that sent bytes, most first, with their hits" \
	"$TAP_TMP/want.bandwidth" "$TAP_TMP/got.bandwidth"
printf '%s\t%s\t%s\t%s\t%s\n' \
	/slow 100000.0 100000.0000 NULL 1 \
	/video 1000.0 800.0000 1000.0000 2 \
	/api/v1/items 12.5 10.0000 12.5000 10 \
	/search 1.0 0.8000 1.0000 20 >"$TAP_TMP/want.slowest"
panel slowest $((E - 3600)) "$E" >"$TAP_TMP/got.slowest"
same "slowest URLs, last hour (5 s rows): p95 interpolated in its bucket, with the bounds" \
	"$TAP_TMP/want.slowest" "$TAP_TMP/got.slowest"
panel slowest $((E - 14 * 86400)) "$E" >"$TAP_TMP/got.slowest"
same "slowest URLs, 14 days: the same from the 3600 s rows" \
	"$TAP_TMP/want.slowest" "$TAP_TMP/got.slowest"
