#!/usr/bin/env bash
# Capture the lines of test/data/formats/*.log: runs Debian's nginx and
# apache2 (scripts/install-deps --tests, and apt-get install apache2) from a
# private 0700 folder on loopback ports, each server configured with the
# log formats logtally names, and drives a fixed set of requests at them
# with curl: a file, a query string, a 404, a referer, a POST, a slow
# (rate-limited) download, and through nginx proxies a closed upstream
# (502), an upstream block whose first server is closed ("0.000, 0.001")
# and an internal redirect to a second upstream ("0.001 : 0.000").
# Usage: test/data/formats/capture.sh [OUTDIR] (default: this folder).
# The test does not run this; its lines are shipped, with their expected
# fields written by hand in test/data/formats/servers.cases.
set -euo pipefail

out=$(cd "${1:-$(dirname "$0")}" && pwd)
find_tool() { command -v "$1" || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; }; }
NGINX=$(find_tool nginx) || { echo "capture: nginx is missing" >&2; exit 1; }
APACHE=$(find_tool apache2) || { echo "capture: apache2 is missing" >&2; exit 1; }
MODS=/usr/lib/apache2/modules

dir=$(mktemp -d /tmp/logtally-formats.XXXXXX)   # 0700
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
	rm -rf "$dir"
}
trap cleanup EXIT
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
FRONT=$(free_port) BACK=$(free_port) CLOSED=$(free_port) APORT=$(free_port)

# Workers run as www-data (apache2 refuses root): the folder stays 0700
# but becomes theirs, so that they can read the files they serve.
mkdir -p "$dir/www/slow" "$dir/tmp" "$dir/logs"
echo "hello from logtally" >"$dir/www/index.html"
head -c 200000 /dev/zero | tr '\0' 'x' >"$dir/www/slow/big.txt"
cp "$dir/www/index.html" "$dir/www/fallback.html"
chown -R www-data:www-data "$dir"

# --- nginx: its built-in combined and the two formats with times ------------
cat >"$dir/nginx.conf" <<EOF
user www-data;
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
lock_file $dir/nginx.lock;
error_log $dir/nginx-error.log;
events { worker_connections 64; }
http {
	client_body_temp_path $dir/tmp/body;
	proxy_temp_path $dir/tmp/proxy;
	fastcgi_temp_path $dir/tmp/fastcgi;
	uwsgi_temp_path $dir/tmp/uwsgi;
	scgi_temp_path $dir/tmp/scgi;
	log_format request_time '\$remote_addr - \$remote_user [\$time_local] '
		'"\$request" \$status \$body_bytes_sent "\$http_referer" '
		'"\$http_user_agent" \$request_time';
	log_format upstream_time '\$remote_addr - \$remote_user [\$time_local] '
		'"\$request" \$status \$body_bytes_sent "\$http_referer" '
		'"\$http_user_agent" \$request_time \$upstream_response_time';
	upstream pair {
		server 127.0.0.1:$CLOSED max_fails=0;
		server 127.0.0.1:$BACK max_fails=0;
	}
	server {
		listen 127.0.0.1:$FRONT;
		root $dir/www;
		access_log $dir/logs/nginx_combined.log combined;
		access_log $dir/logs/nginx_request_time.log request_time;
		access_log $dir/logs/nginx_upstream_time.log upstream_time;
		location /slow/ { proxy_pass http://127.0.0.1:$BACK; }
		location /closed/ { proxy_pass http://127.0.0.1:$CLOSED; }
		location /pair/ { proxy_pass http://pair/; }
		location /redirect/ {
			proxy_pass http://127.0.0.1:$BACK/missing/;
			proxy_intercept_errors on;
			error_page 404 = @fallback;
		}
		location @fallback {
			rewrite ^ /fallback.html break;
			proxy_pass http://127.0.0.1:$BACK;
		}
		location = /post { proxy_pass http://127.0.0.1:$BACK/index.html; }
	}
	server {
		listen 127.0.0.1:$BACK;
		root $dir/www;
		access_log off;
		location /slow/ { limit_rate 100k; }
		location = /index.html { error_page 405 =200 \$uri; }
	}
}
EOF
"$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/nginx-error.log" </dev/null &
pids+=($!)

# --- apache2: Debian's formats, verbatim from apache2.conf, and %D, %T -------
cat >"$dir/apache2.conf" <<EOF
ServerRoot $dir
ServerName localhost
Listen 127.0.0.1:$APORT
PidFile $dir/apache2.pid
Mutex file:$dir
DefaultRuntimeDir $dir
User www-data
Group www-data
ErrorLog $dir/apache2-error.log
LoadModule mpm_event_module $MODS/mod_mpm_event.so
LoadModule authz_core_module $MODS/mod_authz_core.so
LoadModule mime_module $MODS/mod_mime.so
LoadModule ratelimit_module $MODS/mod_ratelimit.so
LoadModule env_module $MODS/mod_env.so
LoadModule dir_module $MODS/mod_dir.so
TypesConfig /etc/mime.types
DocumentRoot $dir/www
<Directory $dir/www>
	Require all granted
</Directory>
<Location /slow/>
	SetOutputFilter RATE_LIMIT
	SetEnv rate-limit 100
</Location>
LogFormat "%v:%p %h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\"" vhost_combined
LogFormat "%h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\"" combined
LogFormat "%h %l %u %t \"%r\" %>s %O" common
LogFormat "%h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\" %D" duration_us
LogFormat "%h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\" %T" duration_s
CustomLog $dir/logs/apache_vhost_combined.log vhost_combined
CustomLog $dir/logs/apache_combined.log combined
CustomLog $dir/logs/apache_common.log common
CustomLog $dir/logs/apache_duration_us.log duration_us
CustomLog $dir/logs/apache_duration_s.log duration_s
EOF
"$APACHE" -f "$dir/apache2.conf" -DFOREGROUND </dev/null &
pids+=($!)

for port in "$FRONT" "$APORT"; do
	for _ in $(seq 50); do
		curl -s -o /dev/null "http://127.0.0.1:$port/__up" && break
		sleep 0.1
	done
done

# The same requests at both servers; the proxied ones only mean something
# to nginx (apache answers them 404).
hit() { curl -s -o /dev/null "$@" || true; }
for port in "$FRONT" "$APORT"; do
	url=http://127.0.0.1:$port
	hit "$url/index.html"
	hit "$url/index.html?q=caf%C3%A9&page=2" -e "http://example.com/search?q=x"
	hit "$url/missing.html"
	hit -A "Mozilla/5.0 (X11; Linux x86_64) \"quoted\"" "$url/"
	hit -X POST -d "a=1" "$url/post"
	hit "$url/slow/big.txt"
	hit "$url/closed/x"
	hit "$url/pair/index.html"
	hit "$url/pair/index.html"
	hit "$url/redirect/x"
	hit -I "$url/index.html"
done
sleep 0.5   # apache writes its logs buffered per request, nginx at once

# Without the request to probe that the servers were up.
for f in "$dir"/logs/*.log; do
	grep -v '/__up ' "$f" >"$out/$(basename "$f")"
done
echo "capture: $(cat "$out"/*.log | wc -l) lines in $out"
