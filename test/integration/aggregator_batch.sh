#!/usr/bin/env bash
# aggregator_batch.sh: logtally-aggregator --once (and a few streaming runs
# read through /metrics) against the shared broker and the private MariaDB,
# with an independent Perl count of the lines as the oracle. The counts of
# a batch run are exact for url, status and hashtag, in the base window and
# in the 1m and 1h rollups; the real logs count as SOURCES.md says, their
# unparsable lines as parse errors; a second run counts nothing twice and a
# third adds exactly what was appended, bare kcat lines included; values are
# stored byte for byte; rows follow the distinct keys, not the lines; a
# custom log_format's own groups can be dimensions.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"
# shellcheck source=aggregator_lib.sh
. "$(dirname "$0")/aggregator_lib.sh"

plan 34
agent_require
agg_require

BROKERS=$LOGTALLY_KAFKA_BROKERS
# The real logs shipped in test/data/real (see its SOURCES.md); the NASA
# trace, which is not shipped, joins them when LOGTALLY_REAL_DATA names a
# folder that holds it.
REAL=$top_srcdir/test/data/real
ELASTIC=$REAL/elastic-examples_apache_logs.log
NASA=${LOGTALLY_REAL_DATA:+$LOGTALLY_REAL_DATA/nasa-http_aug95_first20000.log}
[ -n "$NASA" ] && [ -r "$NASA" ] || NASA=
for f in "$ELASTIC" "$REAL/beats_apache_access_test.log" "$REAL/beats_nginx_access_test.log"; do
	[ -r "$f" ] || bail_out "$f is missing"
done
started=$SECONDS

# same DESCRIPTION EXPECTED GOT: ok when both files are equal, else the diff.
same() {
	if diff "$2" "$3" >"$TAP_TMP/diff"; then
		ok "$1"
	else
		not_ok "$1" "$(head -n 20 "$TAP_TMP/diff")"
	fi
}

# The status of an --once run, and its stderr's end when it failed.
once_ok() {   # DESCRIPTION NAME
	if [ "$AGG_RC" = 0 ]; then
		ok "$1"
	else
		not_ok "$1" "status $AGG_RC: $(tail -n 20 "$TAP_TMP/$2.err")"
	fi
}

# A group of its own for each run: the dev broker (librdkafka's mock
# cluster) makes a member that joins a group right after another left it
# wait out the session timeout (45 s; kcat -G does the same). Where a run
# starts is MariaDB's business, never the group's.
regroup() {   # CONFIG NAME
	sed -i "s/^  group: .*/  group: $2-$$-$RANDOM/" "$1"
}

# The real logs and the fixed dates below are older than the default
# retention, which a later run would apply: they keep every row.
KEEP='retention: {}'

stored_is() {   # DB TOPIC N
	[ "$(agg_stored "$1" "$2")" = "$3" ]
}

# Every row of the counts table, values in hex.
dump() {
	agg_sql "$1" "SELECT window_seconds, window_start, dimension, HEX(value), hits
		FROM counts ORDER BY 1, 2, 3, 4"
}

# Rows of rollup size $2, and the base rows summed per window of that size
# (here, not in a GROUP BY: no server temporary table).
rollup_rows() {
	agg_sql "$1" "SELECT dimension, HEX(value),
		TIMESTAMPDIFF(SECOND, '1970-01-01', window_start), hits
		FROM counts WHERE window_seconds = $2" | LC_ALL=C sort
}
base_summed() {
	agg_sql "$1" "SELECT dimension, HEX(value),
		TIMESTAMPDIFF(SECOND, '1970-01-01', window_start), hits
		FROM counts WHERE window_seconds = 5" |
		awk -F'\t' -v s="$2" '{ n[$1 "\t" $2 "\t" ($3 - $3 % s)] += $4 }
			END { for (k in n) print k "\t" n[k] }' | LC_ALL=C sort
}

# --- 1. a batch run over sample logs shipped by the agent ------------------

TOPIC=$(agent_topic agg-batch)
DB=$(agg_db batch)
LOGS=$TAP_TMP/logs
mkdir -p "$LOGS"
now=$(date +%s)
agg_gen 3000 1 $((now - 40000)) >"$LOGS/a.log"
agg_gen 2000 2 $((now - 36000)) >"$LOGS/b.log"
agg_gen 1500 3 $((now - 30000)) >"$LOGS/c.log"
# Bare lines too, which no source high mark protects from being counted
# twice: only the stored offsets do.
agg_gen 300 7 $((now - 25000)) >"$TAP_TMP/bare0.log"
agent_config "$TAP_TMP/agent.yml" "$BROKERS" "$TOPIC" "$TAP_TMP/data" "$LOGS/*.log"
agg_config "$TAP_TMP/agg.yml" "$BROKERS" "$TOPIC" "$DB"

agent_once ship1 "$TAP_TMP/agent.yml"
agg_produce "$BROKERS" "$TOPIC" "$TAP_TMP/bare0.log"
produced=$?
if [ "$AGENT_RC" = 0 ] && [ "$produced" = 0 ]; then
	ok "the agent ships 6500 sample lines of 3 files, kcat 300 bare lines"
else
	not_ok "the agent ships 6500 sample lines of 3 files, kcat 300 bare lines" \
	       "agent $AGENT_RC, kcat $produced"
fi

agg_once first "$TAP_TMP/agg.yml"
if [ "$AGG_RC" = 0 ] && stored_is "$DB" "$TOPIC" 6800; then
	ok "aggregator --once exits 0 with every partition's end offset stored (6800)"
else
	not_ok "aggregator --once exits 0 with every partition's end offset stored (6800)" \
	       "status $AGG_RC, stored $(agg_stored "$DB" "$TOPIC"): $(tail -n 20 "$TAP_TMP/first.err")"
fi

for dim in url status hashtag; do
	agg_expect "$dim" "$LOGS"/*.log "$TAP_TMP/bare0.log" >"$TAP_TMP/want.$dim"
	agg_counts "$DB" "$dim" >"$TAP_TMP/got.$dim"
	same "$dim: the hits of every value equal the oracle's ($(wc -l <"$TAP_TMP/want.$dim") values)" \
	     "$TAP_TMP/want.$dim" "$TAP_TMP/got.$dim"
done

for size in 60 3600; do
	for dim in url status hashtag; do
		cat "$TAP_TMP/want.$dim"
	done >"$TAP_TMP/want.all"
	for dim in url status hashtag; do
		agg_counts "$DB" "$dim" "$size"
	done >"$TAP_TMP/got.all"
	same "the ${size} s rollup holds the same sums per value for url, status and hashtag" \
	     "$TAP_TMP/want.all" "$TAP_TMP/got.all"
done

rollups_match() {
	local size
	for size in 60 3600; do
		diff <(base_summed "$1" "$size") <(rollup_rows "$1" "$size") || return 1
	done
}
check "each 1m and 1h rollup row is the sum of the base windows inside it, aligned" \
	rollups_match "$DB"

agg_expect_windows 5 "$LOGS"/*.log "$TAP_TMP/bare0.log" >"$TAP_TMP/want.windows"
agg_windows "$DB" status 5 >"$TAP_TMP/got.windows"
same "every line counts in the 5 s window of its own time ($(wc -l <"$TAP_TMP/want.windows") window/status rows)" \
     "$TAP_TMP/want.windows" "$TAP_TMP/got.windows"

# --- 3. again: nothing counted twice; then exactly what was added ---------

dump "$DB" >"$TAP_TMP/dump1"
regroup "$TAP_TMP/agg.yml" second
agg_once second "$TAP_TMP/agg.yml"
dump "$DB" >"$TAP_TMP/dump2"
if [ "$AGG_RC" = 0 ] && [ -s "$TAP_TMP/dump1" ] && cmp -s "$TAP_TMP/dump1" "$TAP_TMP/dump2"; then
	ok "a second --once exits 0 and changes no row"
else
	not_ok "a second --once exits 0 and changes no row" \
	       "status $AGG_RC; $(diff "$TAP_TMP/dump1" "$TAP_TMP/dump2" | head -n 10)"
fi

# 700 lines appended, a new file of 300, 400 bare lines without key or
# envelope produced by kcat, in a time range of their own.
agg_gen 700 4 $((now - 20000)) >>"$LOGS/a.log"
agg_gen 300 5 $((now - 19000)) >"$LOGS/d.log"
agg_gen 400 6 $((now - 10000)) >"$TAP_TMP/bare.log"
agent_once ship2 "$TAP_TMP/agent.yml"
agg_produce "$BROKERS" "$TOPIC" "$TAP_TMP/bare.log"
produced=$?
regroup "$TAP_TMP/agg.yml" third
agg_once third "$TAP_TMP/agg.yml"
if [ "$AGENT_RC" = 0 ] && [ "$produced" = 0 ] && [ "$AGG_RC" = 0 ] &&
   stored_is "$DB" "$TOPIC" 8200; then
	ok "1000 lines appended and 400 bare lines: --once exits 0 with 8200 offsets stored"
else
	not_ok "1000 lines appended and 400 bare lines: --once exits 0 with 8200 offsets stored" \
	       "agent $AGENT_RC, kcat $produced, aggregator $AGG_RC, stored $(agg_stored "$DB" "$TOPIC")"
fi
for dim in url status hashtag; do
	agg_expect "$dim" "$LOGS"/*.log "$TAP_TMP"/bare*.log >"$TAP_TMP/want.$dim"
	agg_counts "$DB" "$dim" 3600 >"$TAP_TMP/got.$dim"
	agg_counts "$DB" "$dim" >>"$TAP_TMP/got.$dim"
	LC_ALL=C sort -o "$TAP_TMP/got.$dim" "$TAP_TMP/got.$dim"
	LC_ALL=C sort -o "$TAP_TMP/want.$dim" "$TAP_TMP/want.$dim" "$TAP_TMP/want.$dim"
	same "$dim: after the third run the base window and the 1h rollup equal the oracle over all 8200 lines" \
	     "$TAP_TMP/want.$dim" "$TAP_TMP/got.$dim"
done
bare=$(agg_sql "$DB" "SELECT SUM(hits) FROM counts WHERE dimension = 'status'
	AND window_seconds = 5 AND window_start >= TIMESTAMPADD(SECOND, $((now - 10100)), '1970-01-01')")
check "the 400 bare lines (no key, no envelope) are counted, in their own time range" test "$bare" = 400

# --- 3b. max_pending: counts written before flush_interval ------------------

# The same 8200 lines into a database of their own, with an hour between
# timed flushes and the smallest max_pending: only its size trigger
# flushes before the last (two flushes or more prove it), and the counts
# stay exact.
DB_P=$(agg_db pending)
agg_config "$TAP_TMP/pending.yml" "$BROKERS" "$TOPIC" "$DB_P" "$KEEP" \
	'flush_interval: 1h' 'max_pending: 64KiB' 'log_level: debug'
sed -i 's/^flush_interval: 200ms$//' "$TAP_TMP/pending.yml"
regroup "$TAP_TMP/pending.yml" pending
agg_once pending "$TAP_TMP/pending.yml"
early=$(grep -c 'DEBUG .*: flushed [1-9][0-9]* rows of' "$TAP_TMP/pending.err")
if [ "$AGG_RC" = 0 ] && [ "$early" -ge 2 ] &&
   [ "$(agg_total "$DB_P" url)" = 8200 ] && [ "$(agg_total "$DB_P" url 3600)" = 8200 ]; then
	ok "max_pending 64KiB, flush_interval 1h: $early flushes, 8200 lines counted exactly"
else
	not_ok "max_pending 64KiB, flush_interval 1h: early flushes, 8200 lines counted exactly" \
	       "status $AGG_RC, $early flushes, url $(agg_total "$DB_P" url): $(tail -n 5 "$TAP_TMP/pending.err")"
fi
agg_expect status "$LOGS"/*.log "$TAP_TMP"/bare*.log >"$TAP_TMP/want.pending"
agg_counts "$DB_P" status >"$TAP_TMP/got.pending"
same "max_pending: the hits of every status equal the oracle's" \
     "$TAP_TMP/want.pending" "$TAP_TMP/got.pending"

# --- 2. real logs -----------------------------------------------------------

# Elastic's Apache combined log, as a batch.
TOPIC_E=$(agent_topic agg-elastic)
DB_E=$(agg_db elastic)
agent_config "$TAP_TMP/agent-e.yml" "$BROKERS" "$TOPIC_E" "$TAP_TMP/data-e" "$ELASTIC"
agg_config "$TAP_TMP/agg-e.yml" "$BROKERS" "$TOPIC_E" "$DB_E" "$KEEP"
agent_once ship-e "$TAP_TMP/agent-e.yml"
agg_once elastic "$TAP_TMP/agg-e.yml"
if [ "$AGENT_RC" = 0 ] && [ "$AGG_RC" = 0 ] && stored_is "$DB_E" "$TOPIC_E" 10000; then
	ok "elastic's Apache log (10000 lines): agent and aggregator --once exit 0"
else
	not_ok "elastic's Apache log (10000 lines): agent and aggregator --once exit 0" \
	       "agent $AGENT_RC, aggregator $AGG_RC: $(tail -n 20 "$TAP_TMP/elastic.err")"
fi
# SOURCES.md's figures, the oracle's and the table's must be one list.
printf '%s\t%s\n' 200 9126 206 45 301 164 304 445 403 2 404 213 416 2 500 3 >"$TAP_TMP/want.e.sources"
agg_expect_clf status "$ELASTIC" >"$TAP_TMP/want.e.status"
agg_counts "$DB_E" status >"$TAP_TMP/got.e.status"
if cmp -s "$TAP_TMP/want.e.sources" "$TAP_TMP/want.e.status" &&
   [ "$(agg_expect_clf unparsed "$ELASTIC")" = 0 ]; then
	same "elastic: status hits equal SOURCES.md's counts and the oracle's; all 10000 lines parse" \
	     "$TAP_TMP/want.e.status" "$TAP_TMP/got.e.status"
else
	not_ok "elastic: status hits equal SOURCES.md's counts and the oracle's; all 10000 lines parse" \
	       "the oracle disagrees with SOURCES.md: $(diff "$TAP_TMP/want.e.sources" "$TAP_TMP/want.e.status")"
fi
agg_expect_clf url "$ELASTIC" >"$TAP_TMP/want.e.url"
agg_values "$DB_E" url >"$TAP_TMP/got.e.url"
same "elastic: url hits equal the oracle's, byte for byte (a 1200-byte path cut to 512 characters)" \
     "$TAP_TMP/want.e.url" "$TAP_TMP/got.e.url"

# Beats' odd lines (client lists, "-" and "" requests, an empty line) and,
# when it is there, NASA's common log (HTTP/0.9 requests, backslashes),
# streaming, so that /metrics can be read.
TOPIC_N=$(agent_topic agg-nasa)
DB_N=$(agg_db nasa)
real_files=("$REAL/beats_apache_access_test.log" "$REAL/beats_nginx_access_test.log" $NASA)
mkdir -p "$TAP_TMP/real-n"
cp "${real_files[@]}" "$TAP_TMP/real-n/"
agent_config "$TAP_TMP/agent-n.yml" "$BROKERS" "$TOPIC_N" "$TAP_TMP/data-n" "$TAP_TMP/real-n/*.log"
agg_config "$TAP_TMP/agg-n.yml" "$BROKERS" "$TOPIC_N" "$DB_N" "$KEEP" "log_format: common" \
	"dimensions:" "  - {name: url, from: path}" "  - {name: status, from: status}"
lines_n=$(cat "${real_files[@]}" | wc -l)
agent_once ship-n "$TAP_TMP/agent-n.yml"
agg_start nasa "$TAP_TMP/agg-n.yml"
port=$(agg_wait_port nasa)
if [ "$AGENT_RC" = 0 ] && [ -n "$port" ] && wait_until 60 stored_is "$DB_N" "$TOPIC_N" "$lines_n"; then
	ok "${NASA:+NASA and }beats logs ($lines_n lines): a streaming aggregator stores every offset"
else
	not_ok "${NASA:+NASA and }beats logs ($lines_n lines): a streaming aggregator stores every offset" \
	       "agent $AGENT_RC, port '$port', stored $(agg_stored "$DB_N" "$TOPIC_N"): $(tail -n 20 "$TAP_TMP/nasa.err")"
fi
messages=$(agg_metric "$port" logtally_aggregator_messages_total)
events=$(agg_metric "$port" logtally_aggregator_events_total)
errors=$(agg_metric "$port" logtally_aggregator_parse_errors_total)
unparsed=$(agg_expect_clf unparsed "${real_files[@]}")
total=$(agg_total "$DB_N" status)
if [ "$messages" = "$lines_n" ] && [ "$errors" = "$unparsed" ] && [ "$unparsed" -ge 1 ] &&
   [ "$events" = $((lines_n - unparsed)) ] && [ "$total" = "$events" ]; then
	ok "parse_errors_total = the $unparsed line(s) not of the format; status hits = lines - parse errors"
else
	not_ok "parse_errors_total = the line(s) not of the format; status hits = lines - parse errors" \
	       "lines $lines_n, messages $messages, events $events, parse errors $errors (oracle $unparsed), status hits $total"
fi
agg_expect_clf status "${real_files[@]}" >"$TAP_TMP/want.n.status"
agg_counts "$DB_N" status >"$TAP_TMP/got.n.status"
printf '%s\t%s\n' 200 18083 302 244 304 1485 403 1 404 187 >"$TAP_TMP/want.n.sources"
if [ -z "$NASA" ]; then
	same "beats: status hits equal the oracle's" "$TAP_TMP/want.n.status" "$TAP_TMP/got.n.status"
elif diff "$TAP_TMP/want.n.sources" <(agg_expect_clf status "$NASA") >"$TAP_TMP/diff"; then
	same "NASA and beats: status hits equal the oracle's (which agrees with NASA's SOURCES.md)" \
	     "$TAP_TMP/want.n.status" "$TAP_TMP/got.n.status"
else
	not_ok "NASA and beats: status hits equal the oracle's (which agrees with NASA's SOURCES.md)" \
	       "the oracle disagrees with SOURCES.md: $(cat "$TAP_TMP/diff")"
fi
agg_expect_clf url "${real_files[@]}" >"$TAP_TMP/want.n.url"
agg_values "$DB_N" url >"$TAP_TMP/got.n.url"
same "${NASA:+NASA and }beats: url hits equal the oracle's${NASA:+ (HTTP/0.9 requests, backslashes)}" \
     "$TAP_TMP/want.n.url" "$TAP_TMP/got.n.url"
agg_stop "$AGG_PID"
check "the streaming aggregator stops on SIGTERM with status 0" test $? = 0

# --- 4. values stored verbatim ----------------------------------------------

TOPIC_V=$(agent_topic agg-verbatim)
DB_V=$(agg_db verbatim)
mkdir -p "$TAP_TMP/vlogs"
# Each path (bytes as written in the line) and how many lines hold it; the
# lines go to the log, the expected values (cut to 512 characters) and hits
# to want.verbatim as HEX TAB HITS.
perl -e '
	my @paths = (
		["/q\\\"uote", 1],              # Apache writes a quote as \"
		["/q\\x22uote", 1],             # nginx as \x22
		["/back\\slash", 1],
		["/end\\\\", 1],
		["/x\x27);--", 1],
		["/x\x27);DROP/**/TABLE/**/counts;--", 1],
		["/<script>alert(1)</script>", 1],
		["/caf\xc3\xa9", 1],
		["/\xe6\x97\xa5\xe6\x9c\xac", 1],
		["/\xf0\x9f\x8e\x89/\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd", 1],
		["/" . ("a" x 599), 1],
		["/" . ("\xe6\x97\xa5" x 599), 1],
		["/Foo", 2],
		["/foo", 3],
		["/foo\t", 1],
		["/foo\xc2\xa0", 1],
		["/a%20b%2F%3F", 1],
		["/%", 1],
	);
	open(my $log, ">", shift) or die;
	open(my $want, ">", shift) or die;
	for my $p (@paths) {
		my ($path, $n) = @$p;
		print $log qq(203.0.113.7 - - [24/Nov/2026:20:26:22 +0000] "GET $path HTTP/1.1" 200 12 "-" "curl/8.0"\n) for 1 .. $n;
		my $v = $path;
		utf8::decode($v);
		$v = substr($v, 0, 512);
		utf8::encode($v);
		print $want uc(unpack("H*", $v)), "\t$n\n";
	}
' "$TAP_TMP/vlogs/odd.log" "$TAP_TMP/want.verbatim.hex"
LC_ALL=C sort -o "$TAP_TMP/want.verbatim.hex" "$TAP_TMP/want.verbatim.hex"
agent_config "$TAP_TMP/agent-v.yml" "$BROKERS" "$TOPIC_V" "$TAP_TMP/data-v" "$TAP_TMP/vlogs/*.log"
agg_config "$TAP_TMP/agg-v.yml" "$BROKERS" "$TOPIC_V" "$DB_V" "$KEEP"
agent_once ship-v "$TAP_TMP/agent-v.yml"
agg_once verbatim "$TAP_TMP/agg-v.yml"
once_ok "odd paths: agent and aggregator --once exit 0" verbatim
agg_sql "$DB_V" "SELECT HEX(value), SUM(hits) FROM counts WHERE dimension = 'url'
	AND window_seconds = 5 GROUP BY value" | LC_ALL=C sort >"$TAP_TMP/got.verbatim.hex"
same "quotes, backslashes, SQL, <script>, UTF-8, emoji, Foo/foo, tab and NBSP variants read back byte for byte (hex)" \
     "$TAP_TMP/want.verbatim.hex" "$TAP_TMP/got.verbatim.hex"
cut_ok() {
	local got
	got=$(agg_sql "$DB_V" "SELECT CHAR_LENGTH(value), LENGTH(value), hits FROM counts
		WHERE dimension = 'url' AND window_seconds = 5 AND CHAR_LENGTH(value) > 100
		ORDER BY 2")
	[ "$got" = "512	512	1
512	1534	1" ] || { echo "$got"; return 1; }
}
check "600-character paths are cut to 512 characters, at a character boundary" cut_ok

# --- 6. rows follow the distinct keys, not the lines -----------------------

TOPIC_R=$(agent_topic agg-rows)
DB_R=$(agg_db rows)
# 20000 bare lines over 14 s (3 base windows), 4 paths and 3 statuses.
perl -e '
	my @paths = ("/", "/a", "/b/c", "/d?x=1");
	my @status = (200, 404, 500);
	for my $i (0 .. 19999) {
		printf("198.51.100.%d - - [01/Nov/2026:10:00:%02d +0000] \"GET %s HTTP/1.1\" %d 1 \"-\" \"t\"\n",
		       $i % 200, $i % 14, $paths[$i % 4], $status[int($i / 4) % 3]);
	}
' >"$TAP_TMP/rows.log"
# The keys: (window size, window, dimension, value) of every line.
keys_r=$(perl -e '
	my %k;
	while (<>) {
		my ($h, $m, $s, $path, $st) = m{:(\d\d):(\d\d):(\d\d) \+0000\] "GET ([^ ?]+)\S* HTTP/1.1" (\d+)} or die;
		my $t = $h * 3600 + $m * 60 + $s;
		for my $size (5, 60, 3600) {
			my $w = $t - $t % $size;
			$k{"$size $w url $path"} = $k{"$size $w status $st"} = 1;
		}
	}
	print scalar(keys %k), "\n";
' "$TAP_TMP/rows.log")
agg_config "$TAP_TMP/agg-r.yml" "$BROKERS" "$TOPIC_R" "$DB_R" "$KEEP"
agg_produce "$BROKERS" "$TOPIC_R" "$TAP_TMP/rows.log"
agg_start rows "$TAP_TMP/agg-r.yml"
port=$(agg_wait_port rows)
if [ -n "$port" ] && wait_until 60 stored_is "$DB_R" "$TOPIC_R" 20000 &&
   diff <(agg_expect url "$TAP_TMP/rows.log") <(agg_counts "$DB_R" url) >"$TAP_TMP/diff" &&
   diff <(agg_expect status "$TAP_TMP/rows.log") <(agg_counts "$DB_R" status) >>"$TAP_TMP/diff"; then
	ok "20000 bare lines of 4 paths and 3 statuses: counts equal the oracle's"
else
	not_ok "20000 bare lines of 4 paths and 3 statuses: counts equal the oracle's" \
	       "stored $(agg_stored "$DB_R" "$TOPIC_R"); $(head -n 10 "$TAP_TMP/diff")"
fi
rows=$(agg_sql "$DB_R" "SELECT COUNT(*) FROM counts")
# One scrape for both figures (two could straddle a flush), taken once the
# loop has counted the flush whose commit the stored offset shows: the
# writer commits first, the loop updates the metrics when it sees the outcome.
scrape_rows() {
	curl -sf "http://127.0.0.1:$port/metrics" >"$TAP_TMP/rows.metrics" || return 1
	flushes=$(awk '$1 == "logtally_aggregator_flushes_total" { print $2 }' "$TAP_TMP/rows.metrics")
	written=$(awk '$1 == "logtally_aggregator_flush_rows_total" { print $2 }' "$TAP_TMP/rows.metrics")
	[ "${written:-0}" -ge "$keys_r" ]
}
wait_until 10 scrape_rows
if [ "$rows" = "$keys_r" ] && [ "${flushes:-0}" -ge 1 ] &&
   [ "${written:-0}" -ge "$keys_r" ] && [ "$written" -le $((flushes * keys_r)) ] &&
   [ $((written * 20)) -lt 20000 ]; then
	ok "rows follow distinct keys: $rows rows in the table (the oracle's $keys_r keys), $written upserted in $flushes flushes, for 20000 lines"
else
	not_ok "rows follow distinct keys, not lines" \
	       "table $rows rows, oracle $keys_r keys, $written rows upserted in $flushes flushes"
fi
size_sum=$(awk '$1 == "logtally_aggregator_flush_size_rows_sum" { print $2 }' "$TAP_TMP/rows.metrics")
size_count=$(awk '$1 == "logtally_aggregator_flush_size_rows_count" { print $2 }' "$TAP_TMP/rows.metrics")
check "the flush size histogram sums the rows of every flush ($size_count flushes, $size_sum rows)" \
	test "$size_count/$size_sum" = "$flushes/$written"
agg_stop "$AGG_PID"
check "that aggregator stops on SIGTERM with status 0" test $? = 0

# --- a custom log_format: named groups, one of them a dimension -------------

TOPIC_C=$(agent_topic agg-custom)
DB_C=$(agg_db custom)
mkdir -p "$TAP_TMP/clogs"
# Times with a zone (22:26:22+02:00 is 20:26:22 UTC), a path with trailing
# spaces (stored as is: 'a' and 'a ' are different keys), a line that does
# not match (not counted).
printf '%s\n' \
	'ts=2026-11-24T22:26:22+02:00 tenant=acme code=200 path=/a' \
	'ts=2026-11-24T22:26:23+02:00 tenant=acme code=200 path=/a' \
	'ts=2026-11-24T20:26:24Z tenant=acme code=404 path=/a ' \
	'ts=2026-11-24T20:26:24.500Z tenant=Acme code=200 path=/a ' \
	'ts=2026-11-24T20:26:25Z tenant=globex code=500 path=/a  ' \
	'ts=2026-11-24T20:26:26Z tenant=globex code=200 path=/b' \
	'ts=2026-11-24T15:26:27-05:00 tenant=acme code=200 path=/b' \
	'this line does not match the format' >"$TAP_TMP/clogs/app.log"
agent_config "$TAP_TMP/agent-c.yml" "$BROKERS" "$TOPIC_C" "$TAP_TMP/data-c" "$TAP_TMP/clogs/*.log"
agg_config "$TAP_TMP/agg-c.yml" "$BROKERS" "$TOPIC_C" "$DB_C" "$KEEP" \
	"log_format: '^ts=(?<time>\\S+) tenant=(?<tenant>\\S+) code=(?<status>\\d+) path=(?<path>.*)\$'" \
	"dimensions:" "  - {name: tenant, from: tenant}" "  - {name: url, from: path}" \
	"  - {name: status, from: status}"
agent_once ship-c "$TAP_TMP/agent-c.yml"
agg_once custom "$TAP_TMP/agg-c.yml"
got=$(agg_sql "$DB_C" "SELECT dimension, window_start, HEX(value), hits FROM counts
	WHERE window_seconds = 5 AND dimension IN ('tenant', 'url') ORDER BY 1, 2, 3")
want="tenant	2026-11-24 20:26:20	41636D65	1
tenant	2026-11-24 20:26:20	61636D65	3
tenant	2026-11-24 20:26:25	61636D65	1
tenant	2026-11-24 20:26:25	676C6F626578	2
url	2026-11-24 20:26:20	2F61	2
url	2026-11-24 20:26:20	2F6120	2
url	2026-11-24 20:26:25	2F612020	1
url	2026-11-24 20:26:25	2F62	2"
if [ "$AGG_RC" = 0 ] && [ "$got" = "$want" ] && [ "$(agg_total "$DB_C" status)" = 7 ]; then
	ok "a custom log_format: a named group as dimension, ISO times with zones, 'a' and 'a ' apart, a non-matching line not counted"
else
	not_ok "a custom log_format: a named group as dimension, ISO times with zones, 'a' and 'a ' apart, a non-matching line not counted" \
	       "status $AGG_RC; got:
$got
status hits $(agg_total "$DB_C" status); $(tail -n 5 "$TAP_TMP/custom.err")"
fi

check "no sanitizer report in the aggregator's stderr" agg_sanitizer_clean
diag "aggregator_batch.sh took $((SECONDS - started)) s"
