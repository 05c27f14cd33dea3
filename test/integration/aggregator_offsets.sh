#!/usr/bin/env bash
# aggregator_offsets.sh: where the aggregator starts and what it tells Kafka.
# A partition starts at the offset stored in MariaDB, whatever Kafka holds
# as the group's committed offset; the aggregator commits the stored
# offsets to Kafka after each flush, for lag tools; a stored offset below
# the partition's log start (lines Kafka deleted before they were counted)
# is logged loudly and counted, and counting goes on from the log start;
# --once on an empty topic exits 0 at once; retention deletes expired rows.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"
# shellcheck source=aggregator_lib.sh
. "$(dirname "$0")/aggregator_lib.sh"

plan 12
agg_require

B=$LOGTALLY_KAFKA_BROKERS
TOPIC=$(agent_topic agg-offsets 1)
DB=$(agg_db offsets)
CONFIG=$TAP_TMP/agg.yml
agg_config "$CONFIG" "$B" "$TOPIC" "$DB" "retention: {}"

# Bare lines of about 300 bytes, numbered from $1 to $2, one second apart.
lines() {
	perl -e 'my ($a, $b) = @ARGV; my $t = time() - 1000;
		for my $i ($a .. $b) {
			my @g = gmtime($t + $i % 900);
			printf("10.1.0.%d - - [%02d/Nov/%04d:%02d:%02d:%02d +0000] \"GET /n/%d?pad=%s HTTP/1.1\" 200 5 \"-\" \"perl\"\n",
			       $i % 200, $g[3], $g[5] + 1900, $g[2], $g[1], $g[0], $i % 10, "x" x 200);
		}' "$1" "$2"
}

# The topic's partition 0: first and last offset held, from a full read.
bounds() {
	timeout 60 kcat -C -b "$B" -t "$TOPIC" -o beginning -e -q -f '%o\n' |
		awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo, hi + 1 }'
}

stored() {
	agg_sql "$DB" "SELECT next_offset FROM logtally_offsets WHERE topic = '$TOPIC'"
}

# 1. An empty topic: --once is done as soon as it has its partitions.
agg_once empty "$CONFIG"
if [ "$AGG_RC" -eq 0 ] && [ "$(agg_total "$DB" status)" = 0 ]; then
	ok "--once on an empty topic exits 0 and counts nothing"
else
	not_ok "--once on an empty topic exits 0 and counts nothing" "rc $AGG_RC; $(tail -5 "$TAP_TMP/empty.err")"
fi

# 2. 500 lines counted; the stored offset and Kafka's committed offset agree.
lines 1 500 >"$TAP_TMP/first.log"
agg_produce "$B" "$TOPIC" "$TAP_TMP/first.log"
agg_once first "$CONFIG"
check "--once counts the first 500 lines" test "$AGG_RC-$(agg_total "$DB" status)" = 0-500
check "the stored next offset is 500" test "$(stored)" = 500
# kcat in the aggregators' group starts at the group's committed offset:
# it finds nothing left to read when the aggregator committed 500.
got=$(timeout 60 kcat -b "$B" -G "test-$TOPIC" -X auto.offset.reset=earliest -X session.timeout.ms=6000 -e -q -f '%o\n' "$TOPIC" 2>/dev/null | wc -l)
check "the offsets were committed to Kafka for lag tools" test "$got" = 0

# 3. Kafka's committed offset is not where counting starts: move it back
# to 0 by hand; the stored offset (500) still rules.
lines 501 600 >"$TAP_TMP/second.log"
agg_produce "$B" "$TOPIC" "$TAP_TMP/second.log"
agg_once second "$CONFIG"
check "then 100 more lines count once" test "$(agg_total "$DB" status)" = 600
agg_sql "$DB" "UPDATE logtally_offsets SET next_offset = 550 WHERE topic = '$TOPIC'"
agg_once replay "$CONFIG"
check "a partition starts at the offset stored in MariaDB" \
	test "$(agg_total "$DB" status)" = 650

# 4. Lines deleted by Kafka before they were counted: the mock broker keeps
# about 5 MB per partition, so 30,000 lines of 300 bytes push the log start
# past the stored offset (600).
agg_sql "$DB" "UPDATE logtally_offsets SET next_offset = 600 WHERE topic = '$TOPIC'"
lines 601 30600 >"$TAP_TMP/flood.log"
agg_produce "$B" "$TOPIC" "$TAP_TMP/flood.log"
read -r lo hi <<<"$(bounds)"
diag "partition 0 holds offsets $lo to $hi"
check "Kafka deleted lines that were never counted" test "$lo" -gt 600
agg_once aged "$CONFIG"
check "--once still exits 0" test "$AGG_RC" = 0
if grep -q "stored offset 600 is below the log start $lo: $((lo - 600)) messages aged out" "$TAP_TMP/aged.err"; then
	ok "the loss is logged loudly, with how many messages"
else
	not_ok "the loss is logged loudly, with how many messages" "$(tail -5 "$TAP_TMP/aged.err")"
fi
check "counting goes on from the log start, exactly" \
	test "$(agg_total "$DB" status)" = $((650 + hi - lo))
check "the stored offset is the end" test "$(stored)" = "$hi"

# 5. Retention: rows of 5 s windows older than 1 s go at the next start.
agg_config "$CONFIG" "$B" "$TOPIC" "$DB" "retention: {5s: 1s}"
agg_once retention "$CONFIG"
check "retention deletes expired rows, other window sizes are kept" test \
	"$(agg_total "$DB" status)-$(agg_total "$DB" status 60)" = "0-$((650 + hi - lo))"
