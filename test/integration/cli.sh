#!/usr/bin/env bash
# The command line of both programs, run for real: --help, --version,
# --help-config listing every key, --check-config on the sample files (one
# line, exit 0) and on a bad file (FILE:LINE:COLUMN errors, exit 2), and
# usage errors (exit 2). Needs no service.
. "$(dirname "$0")/tap.sh"

plan 17
agent=$top_builddir/logtally-agent
aggregator=$top_builddir/logtally-aggregator

for prog in "$agent" "$aggregator"; do
	name=$(basename "$prog")
	out=$("$prog" --help); rc=$?
	[[ $rc -eq 0 && $out == *"Usage: $name --config FILE"* && $out == *--help-config* ]] &&
		ok "$name --help" || not_ok "$name --help" "rc=$rc: $out"
	out=$("$prog" --version); rc=$?
	[[ $rc -eq 0 && $out =~ ^$name\ [0-9]+\.[0-9]+\.[0-9]+$ ]] &&
		ok "$name --version" || not_ok "$name --version" "rc=$rc: $out"
	"$prog" --no-such-flag >/dev/null 2>&1; rc=$?
	[[ $rc -eq 2 ]] && ok "$name: an unknown flag is a usage error" ||
		not_ok "$name: an unknown flag is a usage error" "rc=$rc"
	"$prog" >/dev/null 2>&1; rc=$?
	[[ $rc -eq 2 ]] && ok "$name: --config is required" || not_ok "$name: --config is required" "rc=$rc"
done

# Every key of the sample file appears in --help-config, as its dotted name.
help_has_keys() {   # PROGRAM SAMPLE
	local help missing=
	help=$("$1" --help-config) || return 1
	for key in $(awk -F: '/^[a-z_]+:/ {print $1}' "$2"); do
		grep -qx "$key" <<<"$help" || missing="$missing $key"
	done
	[[ -z $missing && $(grep -c '^    ' <<<"$help") -gt 20 ]] || { echo "missing:$missing"; return 1; }
}
check "agent --help-config lists the top-level keys of config/agent.yml" \
	help_has_keys "$agent" "$top_srcdir/config/agent.yml"
check "aggregator --help-config lists the top-level keys of config/aggregator.yml" \
	help_has_keys "$aggregator" "$top_srcdir/config/aggregator.yml"

for pair in "agent:$agent" "aggregator:$aggregator"; do
	name=${pair%%:*}; prog=${pair#*:}
	out=$("$prog" --check-config --config "$top_srcdir/config/$name.yml" 2>&1); rc=$?
	[[ $rc -eq 0 && $(wc -l <<<"$out") -eq 1 && $out == *": OK: "* ]] &&
		ok "$name --check-config config/$name.yml: one line, exit 0" ||
		not_ok "$name --check-config config/$name.yml" "rc=$rc: $out"
done

cat >"$TAP_TMP/bad.yml" <<'YAML'
inputs:
  - paths: [/var/log/a.log]
    read_from: middle
kafka: {brokers: "k:9092", topik: x}
YAML
out=$("$agent" --check-config --config "$TAP_TMP/bad.yml" 2>&1); rc=$?
[[ $rc -eq 2 ]] && ok "a bad file exits 2" || not_ok "a bad file exits 2" "rc=$rc"
[[ $out == *"$TAP_TMP/bad.yml:3:16: inputs[0].read_from: 'middle' is not one of: beginning, end"* ]] &&
	ok "errors read FILE:LINE:COLUMN: key: message" || not_ok "errors read FILE:LINE:COLUMN" "$out"
[[ $out == *"$TAP_TMP/bad.yml:4:28: kafka.topik: unknown key (did you mean 'topic'?)"* ]] &&
	ok "every error of the file is reported" || not_ok "every error of the file is reported" "$out"

"$agent" --config "$TAP_TMP/missing.yml" >/dev/null 2>"$TAP_TMP/err"; rc=$?
[[ $rc -eq 2 ]] && grep -q "missing.yml: cannot open" "$TAP_TMP/err" &&
	ok "a missing file exits 2 with its name" || not_ok "a missing file exits 2" "rc=$rc: $(cat "$TAP_TMP/err")"

out=$(LOGTALLY_KAFKA_BROKERS='broker-from-env:9092' \
	"$agent" --check-config --config "$top_srcdir/config/agent.yml" 2>&1)
[[ $out == *"kafka broker-from-env:9092"* ]] && ok "\${VAR:-default} takes the environment's value" ||
	not_ok "\${VAR:-default} takes the environment's value" "$out"
