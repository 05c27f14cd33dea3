#!/usr/bin/env bash
# aggregator_tls.sh: the aggregator's MariaDB connection over TLS
# (mariadb.tls), against the dev server, which scripts/dev-services starts
# with a test CA of its own. The proof that a session is encrypted is that
# it logs in at all as logtally_tls, a user the server admits over TLS only
# (REQUIRE SSL), and as logtally_x509 only with a client certificate of the
# CA (REQUIRE X509); plain connections of that user are refused. With the
# dev CA the lines count exactly (--once); with a CA this test makes, the
# server's certificate is refused with the library's reason and status 1;
# a CA file that is not there stops the program at start with its
# FILE:LINE:COLUMN and status 2. verify_server_cert: false still checks the
# chain against ca (only the name goes unchecked). Against a private
# instance of the dev services whose certificate names another host, the
# default (verify with a ca) refuses the server, and false counts.
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
for var in LOGTALLY_DB_TLS_CA LOGTALLY_DB_TLS_CERT LOGTALLY_DB_TLS_KEY \
	   LOGTALLY_DB_TLS_USER LOGTALLY_DB_X509_USER; do
	[ -n "${!var:-}" ] || bail_out "$var is unset: restart scripts/dev-services (up, then env)"
done
[ -r "$LOGTALLY_DB_TLS_CA" ] || bail_out "$LOGTALLY_DB_TLS_CA is missing: run scripts/dev-services up"
command -v openssl >/dev/null || bail_out "openssl is missing"

BROKERS=$LOGTALLY_KAFKA_BROKERS
TOPIC=$(agent_topic agg-tls)
LINES=400
agg_gen "$LINES" 11 >"$TAP_TMP/lines.log"
agg_produce "$BROKERS" "$TOPIC" "$TAP_TMP/lines.log" ||
	bail_out "kcat could not produce the test lines"

# Write CONFIG for a fresh database as USER with mariadb.tls TLS (a YAML
# flow mapping, or "" for none), in a consumer group of its own; sets DB.
tls_config() {   # CONFIG USER TLS
	DB=$(agg_db tls)
	agg_config "$1" "$BROKERS" "$TOPIC" "$DB"
	sed -i -e "s/^  user: .*/  user: $2/" \
	       -e "s/^  group: .*/  group: tls-$$-$RANDOM/" "$1"
	if [ -n "$3" ]; then
		sed -i "s|^  database: .*|&\n  tls: $3|" "$1"
	fi
}

# A run that counted every line: status 0, the oracle's counts.
counted() {   # DESCRIPTION NAME
	local diffs
	if [ "$AGG_RC" != 0 ]; then
		not_ok "$1" "status $AGG_RC: $(tail -n 20 "$TAP_TMP/$2.err")"
	elif ! diffs=$(agg_exact "$DB" 5 "$TAP_TMP/lines.log"); then
		not_ok "$1" "$diffs"
	else
		ok "$1"
	fi
}

# A run refused at connect: status 1 and a log line matching PATTERN.
refused() {   # DESCRIPTION NAME PATTERN
	if [ "$AGG_RC" = 1 ] && grep -q -E -- "$3" "$TAP_TMP/$2.err"; then
		ok "$1"
	else
		not_ok "$1" "status $AGG_RC: $(tail -n 20 "$TAP_TMP/$2.err")"
	fi
}

# --- the configuration -----------------------------------------------------

tls_config "$TAP_TMP/missing.yml" "$LOGTALLY_DB_TLS_USER" "{ca: $TAP_TMP/none.pem}"
out=$("$AGGREGATOR" --check-config --config "$TAP_TMP/missing.yml" 2>&1)
rc=$?
line=$(grep -n '^  tls: ' "$TAP_TMP/missing.yml" | cut -d: -f1)
if [ "$rc" = 2 ] && [[ $out == "$TAP_TMP/missing.yml:$line:"[0-9]*": mariadb.tls.ca: cannot read '$TAP_TMP/none.pem': No such file or directory"* ]]; then
	ok "a CA file that is not there: status 2 and FILE:LINE:COLUMN: mariadb.tls.ca"
else
	not_ok "a CA file that is not there: status 2 and FILE:LINE:COLUMN: mariadb.tls.ca" \
	       "status $rc: $out"
fi

# --- encrypted sessions ----------------------------------------------------

tls_config "$TAP_TMP/ca.yml" "$LOGTALLY_DB_TLS_USER" "{ca: $LOGTALLY_DB_TLS_CA}"
agg_once ca "$TAP_TMP/ca.yml"
counted "with the dev CA, user $LOGTALLY_DB_TLS_USER (REQUIRE SSL) counts $LINES lines exactly" ca

cipher=$(mariadb --no-defaults --connect-timeout=10 -h "$LOGTALLY_DB_HOST" \
	-P "$LOGTALLY_DB_PORT" -u "$LOGTALLY_DB_TLS_USER" -p"$LOGTALLY_DB_PASSWORD" \
	--ssl-ca="$LOGTALLY_DB_TLS_CA" --ssl-verify-server-cert -N -B \
	-e "SHOW SESSION STATUS LIKE 'Ssl_cipher'" 2>&1)
if [[ $cipher == Ssl_cipher$'\t'?* ]]; then
	ok "a client with the same settings is on TLS (${cipher#*$'\t'})"
else
	not_ok "a client with the same settings is on TLS" "$cipher"
fi

tls_config "$TAP_TMP/plain.yml" "$LOGTALLY_DB_TLS_USER" ""
agg_once plain "$TAP_TMP/plain.yml"
refused "without mariadb.tls the same user is refused: the login above was TLS" \
	plain "Access denied for user '$LOGTALLY_DB_TLS_USER'"

tls_config "$TAP_TMP/x509.yml" "$LOGTALLY_DB_X509_USER" \
	"{ca: $LOGTALLY_DB_TLS_CA, cert: $LOGTALLY_DB_TLS_CERT, key: $LOGTALLY_DB_TLS_KEY}"
agg_once x509 "$TAP_TMP/x509.yml"
counted "with cert and key, user $LOGTALLY_DB_X509_USER (REQUIRE X509) counts $LINES lines exactly" x509

tls_config "$TAP_TMP/nocert.yml" "$LOGTALLY_DB_X509_USER" "{ca: $LOGTALLY_DB_TLS_CA}"
agg_once nocert "$TAP_TMP/nocert.yml"
refused "without cert and key that user is refused" nocert \
	"Access denied for user '$LOGTALLY_DB_X509_USER'"

# --- a server the CA did not sign ------------------------------------------

if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$TAP_TMP/wrong.key" -out "$TAP_TMP/wrong.pem" -days 2 \
	-subj "/CN=not the dev CA" 2>"$TAP_TMP/openssl.err"; then
	ok "openssl makes a second CA"
else
	not_ok "openssl makes a second CA" "$(cat "$TAP_TMP/openssl.err")"
fi

tls_config "$TAP_TMP/wrong.yml" "$LOGTALLY_DB_TLS_USER" "{ca: $TAP_TMP/wrong.pem}"
started=$SECONDS
agg_once wrong "$TAP_TMP/wrong.yml"
refused "with a wrong CA: status 1, the connect refused over the certificate" \
	wrong "MariaDB: connect \(TLS\): .*(certificate|SSL|TLS)"
if [ $((SECONDS - started)) -lt 60 ]; then
	ok "the refusal is final, not retried ($((SECONDS - started)) s)"
else
	not_ok "the refusal is final, not retried" "$((SECONDS - started)) s"
fi

# Connector/C checks the chain against ca whether or not the name is
# checked: verify_server_cert: false does not open the door to any server.
tls_config "$TAP_TMP/unverified.yml" "$LOGTALLY_DB_TLS_USER" \
	"{ca: $TAP_TMP/wrong.pem, verify_server_cert: false}"
agg_once unverified "$TAP_TMP/unverified.yml"
refused "verify_server_cert: false still refuses a certificate the CA did not sign" \
	unverified "MariaDB: connect \(TLS\): .*(certificate|SSL|TLS)"

# --- the server's name ------------------------------------------------------

# A private instance of the dev services with certificates of this test,
# put in place before up (which makes its own only when tls/ has none):
# the server's names another host, and the CA signed it.
DEV=$TAP_TMP/dev
N=$DEV/tls
if tls_certs "$N" elsewhere.example DNS:elsewhere.example 2>"$TAP_TMP/name.err" &&
   cp "$N/server.pem" "$N/client.pem" && cp "$N/server.key" "$N/client.key" &&
   cleanup_add "LOGTALLY_DEV_DIR=$DEV LOGTALLY_DEVBROKER=$DEVBROKER $top_srcdir/scripts/dev-services down >/dev/null 2>&1" &&
   LOGTALLY_DEV_DIR=$DEV LOGTALLY_DEVBROKER=$DEVBROKER "$top_srcdir/scripts/dev-services" up \
	</dev/null >>"$TAP_TMP/name.err" 2>&1; then
	ok "a private MariaDB whose certificate names elsewhere.example"
else
	bail_out "the private MariaDB does not start: $(tail -n 20 "$TAP_TMP/name.err")"
fi

SHARED_PORT=$LOGTALLY_DB_PORT
LOGTALLY_DB_PORT=$(cat "$DEV/mariadb.port")
tls_config "$TAP_TMP/name.yml" "$LOGTALLY_DB_TLS_USER" "{ca: $N/ca.pem}"
agg_once name "$TAP_TMP/name.yml"
refused "with a ca, a server whose certificate names another host is refused" \
	name "MariaDB: connect \(TLS\): .*Validation of SSL server certificate failed"

tls_config "$TAP_TMP/noname.yml" "$LOGTALLY_DB_TLS_USER" "{ca: $N/ca.pem, verify_server_cert: false}"
agg_once noname "$TAP_TMP/noname.yml"
counted "verify_server_cert: false takes it (its CA checked, not its name)" noname
LOGTALLY_DB_PORT=$SHARED_PORT
