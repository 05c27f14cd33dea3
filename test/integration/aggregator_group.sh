#!/usr/bin/env bash
# aggregator_group.sh: members of one consumer group share a 6-partition
# topic while batches of bare lines keep arriving. Two members both get
# partitions and count; one is killed -9 and the survivor takes over every
# partition from the offsets stored in MariaDB; a new member joins, and is
# then stopped with SIGTERM mid-stream: it flushes what it counted, hands
# its partitions back without dropping anything, and exits 0. Through all
# of it the counts equal an independent count of the lines produced.
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

PARTITIONS=6
BATCH=150               # lines per kcat run, one run every 0.1 s or so
BATCHES=$TAP_TMP/batches
EPOCH=$(($(date +%s) - 20000))
TOPIC=$(agent_topic agg-group "$PARTITIONS")
DB=$(agg_db group)
# agg_db's own cleanup_add ran in the $(...) subshell: register it here.
cleanup_add "agg_mariadb -e 'DROP DATABASE IF EXISTS $DB'"
CONFIG=$TAP_TMP/agg.yml
agg_config "$CONFIG" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$DB"
agg_fast_group "$CONFIG"
mkdir -p "$BATCHES"

# Batches of bare lines (no key: spread over the partitions) until
# $TAP_TMP/stop exists; each batch produced is listed in $TAP_TMP/produced.
producer() {
	local b=0
	while [ ! -e "$TAP_TMP/stop" ]; do
		b=$((b + 1))
		agg_gen "$BATCH" "$b" $((EPOCH + b * BATCH)) >"$BATCHES/$b.log"
		if agg_produce "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$BATCHES/$b.log"; then
			echo "$BATCHES/$b.log" >>"$TAP_TMP/produced"
		else
			echo "batch $b failed" >>"$TAP_TMP/producer-failed"
		fi
		sleep 0.1
	done
}

port_of() {
	wait_until 30 grep -qs 'http: .* on port [0-9]' "$TAP_TMP/$1.err" && agg_http_port "$1"
}

# The partitions member $1 was assigned after line $2 of its log.
assigned_since() {
	tail -n +"$(($2 + 1))" "$TAP_TMP/$1.err" |
		sed -n 's/.*partition \([0-9]*\) assigned.*/\1/p' | sort -nu | tr '\n' ' '
}

# The partitions member $1 holds now: its last assignment, unless revoked.
holding() {
	awk '/partition [0-9]+ assigned/ { sub(/.*partition /, ""); sub(/ .*/, ""); h[$0] = 1 }
	     /partition [0-9]+ revoked/ { sub(/.*partition /, ""); sub(/ .*/, ""); delete h[$0] }
	     END { for (p in h) print p }' "$TAP_TMP/$1.err" | sort -n | tr '\n' ' '
}

all_partitions() {
	seq 0 $((PARTITIONS - 1)) | tr '\n' ' '
}

# Members $1 and $2 both hold partitions, and together each partition once.
shared_by() {
	local x y
	x=$(holding "$1")
	y=$(holding "$2")
	[ -n "$x" ] && [ -n "$y" ] &&
		[ "$(echo "$x $y" | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ')" = "$(all_partitions)" ]
}

# Every partition of list $2 is in list $1.
has_all() {
	local p
	for p in $2; do
		[[ " $1 " == *" $p "* ]] || return 1
	done
}

# The sum of the starting offsets of partitions $3 in log $1 after line $2,
# each partition's last start, or its first when $4 is "first".
start_sum() {
	tail -n +"$(($2 + 1))" "$1" | awk -v want=" $3 " -v first="${4:-}" '
		/partition [0-9]+ assigned, starting at/ {
			p = $0; sub(/.*partition /, "", p); sub(/ .*/, "", p)
			if (index(want, " " p " ") && !(first && p in start))
				start[p] = $NF
		}
		END { for (p in start) s += start[p]; print s + 0 }'
}

counting() {
	local n
	n=$(agg_metric "$1" logtally_aggregator_messages_total)
	[ -n "$n" ] && [ "${n%.*}" -gt 0 ]
}

: >"$TAP_TMP/produced"
producer </dev/null >/dev/null 2>"$TAP_TMP/producer.err" &
cleanup_add "touch '$TAP_TMP/stop'; kill_wait $!"
producer_pid=$!

# --- two members share the partitions ------------------------------------
agg_start a "$CONFIG"
a=$AGG_PID
wait_until 30 grep -qs 'partition [0-9]* assigned' "$TAP_TMP/a.err"
agg_start b "$CONFIG"
b=$AGG_PID
a_port=$(port_of a)
b_port=$(port_of b)
if wait_until 30 shared_by a b; then
	ok "both members got partitions (a: $(holding a); b: $(holding b))"
else
	not_ok "both members got partitions" "a: $(holding a); b: $(holding b)
$(tail -n 5 "$TAP_TMP/a.err" "$TAP_TMP/b.err")"
fi
both_counting() {
	counting "$a_port" && counting "$b_port"
}
check "both count what arrives" wait_until 20 both_counting
sleep 1

# --- kill -9 one of them ----------------------------------------------------
mark=$(wc -l <"$TAP_TMP/a.err")
kill -KILL "$b"
wait "$b" 2>/dev/null
start=$SECONDS
takes_all() {
	[ "$(assigned_since a "$mark")" = "$(all_partitions)" ]
}
if wait_until 40 takes_all; then
	ok "after kill -9 of b, a takes over all $PARTITIONS partitions (in $((SECONDS - start)) s)"
else
	not_ok "after kill -9 of b, a takes over all $PARTITIONS partitions" \
	       "assigned since: $(assigned_since a "$mark"); $(tail -n 5 "$TAP_TMP/a.err")"
fi
check "a is still running" kill -0 "$a"
sleep 1

# --- a third member joins, then leaves gracefully ---------------------------
# c flushes only when it stops (flush_interval 1h): if it dropped what it
# counted instead, a would start c's partitions where c started them.
sed 's/^flush_interval: .*/flush_interval: 1h/' "$CONFIG" >"$TAP_TMP/c.yml"
agg_start c "$TAP_TMP/c.yml"
c=$AGG_PID
c_port=$(port_of c)
if wait_until 30 shared_by a c; then
	ok "a new member c gets partitions (a: $(holding a); c: $(holding c))"
else
	not_ok "a new member c gets partitions" "a: $(holding a); c: $(holding c)"
fi
check "c counts what arrives" wait_until 20 counting "$c_port"
sleep 1
c_had=$(holding c)
mark=$(wc -l <"$TAP_TMP/a.err")
c_counted=$(agg_metric "$c_port" logtally_aggregator_messages_total)
agg_stop "$c"
rc=$?
check "SIGTERM stops c mid-stream with status 0" test "$rc" = 0
revoked=$(sed -n 's/.*partition \([0-9]*\) revoked.*/\1/p' "$TAP_TMP/c.err" | sort -nu | tr '\n' ' ')
dropped=$(grep -E 'dropping|moved under us|not flushed' "$TAP_TMP/c.err")
if [ -z "$dropped" ] && [ -n "$c_had" ] && has_all "$revoked" "$c_had"; then
	ok "c handed back its partitions ($c_had) without dropping counts"
else
	not_ok "c handed back its partitions without dropping counts" \
	       "held: $c_had; revoked: $revoked; $dropped"
fi
if wait_until 30 takes_all; then
	ok "a takes c's partitions back"
else
	not_ok "a takes c's partitions back" "assigned since: $(assigned_since a "$mark")"
fi
# Where c's partitions started, in c's log, and where a starts them now.
c_from=$(start_sum "$TAP_TMP/c.err" 0 "$c_had" first)
a_from=$(start_sum "$TAP_TMP/a.err" "$mark" "$c_had")
if [ "${c_counted%.*}" -gt 0 ] && [ "$a_from" -ge $((c_from + ${c_counted%.*})) ]; then
	ok "c flushed at its stop: a starts its partitions at $a_from, c started at $c_from and counted ${c_counted%.*}"
else
	not_ok "c flushed at its stop" "a starts c's partitions at $a_from; c started at $c_from and counted $c_counted"
fi
sleep 1

# --- the end ------------------------------------------------------------------
touch "$TAP_TMP/stop"
wait "$producer_pid"
check "every batch was produced ($(wc -l <"$TAP_TMP/produced") batches of $BATCH lines)" \
	test ! -s "$TAP_TMP/producer-failed"
start=$SECONDS
if wait_until 60 agg_caught_up "$DB" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC"; then
	ok "a counts up to the topic's end (in $((SECONDS - start)) s)"
else
	not_ok "a counts up to the topic's end" \
	       "high watermarks: $(agg_watermarks "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" | tr '\n' ,)
stored: $(agg_offsets "$DB" "$TOPIC" "$PARTITIONS" | tr '\n' ,)"
fi
agg_stop "$a"
check "a stops with status 0" test "$?" = 0
mapfile -t files <"$TAP_TMP/produced"
lines=$(cat "${files[@]}" | wc -l)
check "url, status and hashtag counts equal the oracle over $lines lines" \
	agg_exact "$DB" 5 "${files[@]}"
check "no sanitizer report in the aggregators' stderr" agg_sanitizer_clean
