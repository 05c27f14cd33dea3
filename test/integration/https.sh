#!/usr/bin/env bash
# https.sh: http.tls of both programs. With a certificate for 127.0.0.1
# signed by a CA this test makes (openssl), the aggregator's and the
# agent's endpoints answer HTTPS that curl verifies against that CA, and
# nothing in plain HTTP; a client without the CA refuses the certificate.
# A cert without its key stops --check-config with FILE:LINE:COLUMN and
# status 2.
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"
# shellcheck source=aggregator_lib.sh
. "$(dirname "$0")/aggregator_lib.sh"

plan 8
agent_require
agg_require
command -v openssl >/dev/null || bail_out "openssl is missing"

T=$TAP_TMP
if tls_certs "$T" 127.0.0.1 IP:127.0.0.1; then
	ok "openssl makes a CA and a certificate for 127.0.0.1"
else
	bail_out "openssl failed: $(cat "$T/openssl.err")"
fi

# The HTTP status of URL by curl with ARGs; 000 when there was no answer.
code() {   # URL [CURL ARG...]
	local url=$1
	shift
	curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" "$url"
}

# HTTPS on PORT: 200 on /metrics with the CA, no answer without it or
# in plain HTTP.
serves_https() {   # DESCRIPTION PORT
	local with without plain
	with=$(code "https://127.0.0.1:$2/metrics" --cacert "$T/ca.pem")
	without=$(code "https://127.0.0.1:$2/metrics")
	plain=$(code "http://127.0.0.1:$2/metrics")
	if [ "$with" = 200 ] && [ "$without" = 000 ] && [ "$plain" != 200 ]; then
		ok "$1"
	else
		not_ok "$1" "with the CA: $with, without: $without, plain HTTP: $plain"
	fi
}

stopped() {   # DESCRIPTION PID NAME
	local rc
	agg_stop "$2"
	rc=$?
	if [ "$rc" = 0 ]; then
		ok "$1"
	else
		not_ok "$1" "status $rc: $(tail -n 20 "$T/$3.err")"
	fi
}

# --- the aggregator ---------------------------------------------------------

TOPIC=$(agent_topic https)
DB=$(agg_db https)
agg_config "$T/agg.yml" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$DB"
sed -i "s|^  listen: .*|&\n  tls: {cert: $T/server.pem, key: $T/server.key}|" "$T/agg.yml"
agg_start agg "$T/agg.yml"
PORT=$(agg_wait_port agg) || bail_out "the aggregator logged no port: $(tail -n 20 "$T/agg.err")"
check "the aggregator logs that it serves HTTPS" grep -q "on port $PORT (HTTPS)" "$T/agg.err"
serves_https "the aggregator: /metrics over HTTPS with the CA; not without it, not in HTTP" "$PORT"
stopped "the aggregator stops cleanly" "$AGG_PID" agg

# --- the agent --------------------------------------------------------------

mkdir -p "$T/logs"
agent_config "$T/agent.yml" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$T/data" "$T/logs/*.log" \
	"http:" "  listen: 127.0.0.1:0" "  tls: {cert: $T/server.pem, key: $T/server.key}"
agent_start agent "$T/agent.yml"
PORT=$(agent_http_port agent) || bail_out "the agent logged no port: $(tail -n 20 "$T/agent.err")"
check "the agent logs that it serves HTTPS" grep -q "on port $PORT (HTTPS)" "$T/agent.err"
serves_https "the agent: /metrics over HTTPS with the CA; not without it, not in HTTP" "$PORT"
stopped "the agent stops cleanly" "$AGENT_PID" agent

# --- the configuration ------------------------------------------------------

agg_config "$T/nokey.yml" "$LOGTALLY_KAFKA_BROKERS" "$TOPIC" "$DB"
sed -i "s|^  listen: .*|&\n  tls:\n    cert: $T/server.pem|" "$T/nokey.yml"
line=$(grep -n '^    cert: ' "$T/nokey.yml" | cut -d: -f1)
out=$("$AGGREGATOR" --check-config --config "$T/nokey.yml" 2>&1)
rc=$?
if [ "$rc" = 2 ] && [[ $out == "$T/nokey.yml:$line:"[0-9]*": http.tls.cert: cert and key go together"* ]]; then
	ok "a cert without its key: status 2 and FILE:LINE:COLUMN: http.tls.cert"
else
	not_ok "a cert without its key: status 2 and FILE:LINE:COLUMN: http.tls.cert" "status $rc: $out"
fi
