#!/usr/bin/env bash
# The side-by-side load comparison of issue 5 (docs/benchmarks.md): ClientSession, raw HttpClient,
# IHttpClientFactory, the factory on a session (UseClientSession, issue 16), Flurl 4 and aiohttp against Debian's
# nginx on 127.0.0.1, each run in its own process,
# clients interleaved per workload, REPS repetitions, medians. Not part of .ci/run.
#
#   tests/AsyncHttp.Benchmarks/run-load.sh                 # everything, under 10 minutes (SCALE, BUDGET below)
#   REPS=1 WORKLOADS=small-c64 CLIENTS="raw session" tests/AsyncHttp.Benchmarks/run-load.sh   # a quick check
#   REPS=5 WORKLOADS=h2-c64 CLIENTS="raw session" ONESHOT=0 tests/AsyncHttp.Benchmarks/run-load.sh   # issue 15: HTTP/2
#     # over TLS (ALPN) to nginx's http2 listener (a self-signed certificate made here): raw HttpClient at 2.0 with
#     # multiple HTTP/2 connections on against the session at Version 2.0 with no per-host limit; other clients skip it
#   WORKLOADS="small-c64 two-hosts-limit" CLIENTS="factory factory-session" tests/AsyncHttp.Benchmarks/run-load.sh
#     # issue 16: the factory on a session against the plain factory; two-hosts-limit (Limit 16 over two hosts, no
#     # per-host limit) shows the plain factory, whose limit is per server, opening more connections than Limit
#
# Writes the markdown table to stdout and to $OUT_DIR/load-comparison.md, the raw runs to $OUT_DIR/load-runs.jsonl.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
REPS=${REPS:-3}
CLIENTS=${CLIENTS:-"session raw factory factory-session flurl aiohttp"}
WORKLOADS=${WORKLOADS:-"small-c64 small-queue 16k-c64 burst-100k two-hosts h2-c64"}
ONESHOT=${ONESHOT:-1}              # after the workloads: a one-shot call against a session's reused connection (oneshot)
OUT_DIR=${OUT_DIR:-"$root/BenchmarkDotNet.Artifacts/load"}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}   # seconds per client run
BUDGET=${BUDGET:-540}             # seconds for all runs: later runs are skipped (and reported) past it
# The issue's request counts (SCALE=1) take about 7 minutes for 3 repetitions on this machine, most of it in aiohttp;
# on a slower machine BUDGET cuts the runs short (and says so) or SCALE=0.3 scales every workload but burst-100k.
SCALE=${SCALE:-1}
WARMUP_SECONDS=${WARMUP_SECONDS:-2}   # per client run, before the measured phase (tiered JIT, connections)
# Tiered JIT starts counting calls at once instead of after 100 ms of quiet: the same tier-1 code in the end, reached
# within the warm-up, so a short measured phase measures the client and not the JIT.
export DOTNET_TC_CallCountingDelayMs=0
PYTHON=/usr/bin/python3           # Debian's python, where python3-aiohttp lives

scaled() { awk -v n="$1" -v s="$SCALE" 'BEGIN { printf "%d", n * s }'; }

# name -> requests concurrency limit limit-per-host file two-hosts protocol
workload_spec() {
  case "$1" in
    small-c64)   echo "$(scaled 50000) 64 100 0 small 0 h1" ;;
    small-queue) echo "$(scaled 50000) 1000 100 0 small 0 h1" ;;
    16k-c64)     echo "$(scaled 20000) 64 100 0 16k 0 h1" ;;
    burst-100k)  echo "100000 100000 100 0 small 0 h1" ;;
    two-hosts)   echo "$(scaled 20000) 64 100 10 small 1 h1" ;;
    two-hosts-limit) echo "$(scaled 20000) 64 16 0 small 1 h1" ;;
    h2-c64)      echo "$(scaled 50000) 64 100 0 small 0 h2" ;;
    *) echo "unknown workload $1" >&2; return 1 ;;
  esac
}

# --- what is missing: nginx and Debian's aiohttp -------------------------------------------------------------
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
"$PYTHON" -c 'import aiohttp' >/dev/null 2>&1 || missing+=(python3-aiohttp)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
"$NGINX" -V 2>&1 | grep -q http_stub_status_module || { echo "nginx lacks stub_status" >&2; exit 1; }

# --- nginx with its own config in a temp dir, always stopped -------------------------------------------------
tmp=$(mktemp -d)
chmod 755 "$tmp"
nginx_pid=""
cleanup() {
  if [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null; then
    kill -QUIT "$nginx_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nginx_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

read -r port1 port2 port3 port4 < <("$PYTHON" - <<'PY'
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
PY
)

mkdir -p "$tmp/www" "$tmp/temp"
printf 'Hello, world!' > "$tmp/www/small"                                   # 13 bytes
head -c 16384 /dev/zero | tr '\0' 'x' > "$tmp/www/16k"                      # 16 KiB
chmod -R a+rX "$tmp/www"
# The h2 listener's certificate: self-signed for 127.0.0.1, made for this run (the clients accept it).
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1
cat > "$tmp/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
worker_rlimit_nofile 16384;
pid $tmp/nginx.pid;
error_log $tmp/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  sendfile on;
  tcp_nodelay on;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  default_type text/plain;
  client_body_temp_path $tmp/temp/body;
  proxy_temp_path $tmp/temp/proxy;
  fastcgi_temp_path $tmp/temp/fastcgi;
  uwsgi_temp_path $tmp/temp/uwsgi;
  scgi_temp_path $tmp/temp/scgi;
  # One log line per connection (its first request), per port: how many connections each port accepted.
  log_format conn '\$connection';
  map \$connection_requests \$first_request { 1 1; default 0; }
  server { listen 127.0.0.1:$port1; root $tmp/www; access_log $tmp/conn-1.log conn if=\$first_request; }
  server { listen 127.0.0.1:$port2; root $tmp/www; access_log $tmp/conn-2.log conn if=\$first_request; }
  server { listen 127.0.0.1:$port3; location = /status { stub_status; } }
  # HTTP/2 over TLS (ALPN), up to 128 streams per connection (nginx's default); its connections are counted from
  # stub_status's accepts, since each stream is a request of its own to the connection log above.
  server { listen 127.0.0.1:$port4 ssl http2; ssl_certificate $tmp/cert.pem; ssl_certificate_key $tmp/key.pem; root $tmp/www; }
}
NGINX
touch "$tmp/conn-1.log" "$tmp/conn-2.log"
"$NGINX" -p "$tmp" -e "$tmp/error.log" -c "$tmp/nginx.conf" &
nginx_pid=$!

status_accepts() {   # nginx's total accepted connections, from stub_status, over bash's /dev/tcp
  local reply
  exec 9<>"/dev/tcp/127.0.0.1/$port3"
  printf 'GET /status HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&9
  reply=$(cat <&9)
  exec 9<&-
  echo "$reply" | awk '/server accepts handled requests/ { getline; print $1 }'
}
status_active() {    # connections nginx holds open now, from stub_status, minus the status request's own
  local reply
  exec 8<>"/dev/tcp/127.0.0.1/$port3"
  printf 'GET /status HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&8
  reply=$(cat <&8)
  exec 8<&-
  echo "$reply" | awk '/Active connections/ { print $3 - 1 }'
}
sample_active() {    # the most connections open at once at nginx during a run, sampled every 50 ms, into $1
  local most=0 now
  echo 0 > "$1"
  while :; do
    now=$(status_active 2>/dev/null) || now=0
    if [ "${now:-0}" -gt "$most" ]; then most=$now; echo "$most" > "$1"; fi
    sleep 0.05
  done
}
ready=0
for _ in $(seq 1 50); do
  if status_accepts >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.1
done
[ "$ready" = 1 ] || { echo "nginx did not start:" >&2; cat "$tmp/error.log" >&2; exit 1; }
echo "nginx $("$NGINX" -v 2>&1 | cut -d/ -f2) on 127.0.0.1:$port1 and :$port2, h2 over TLS on :$port4 (status :$port3)" >&2

# --- the load program, built once ----------------------------------------------------------------------------
dotnet build "$here/AsyncHttp.Benchmarks.csproj" -c Release -nologo -v q >&2
exe="$here/bin/Release/net10.0/AsyncHttp.Benchmarks"

mkdir -p "$OUT_DIR"
runs="$OUT_DIR/load-runs.jsonl"
: > "$runs"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date +%s)
echo "load average before: $load_before" >&2

skipped=0
# Repetition-major: each workload's runs are spread over the whole script (A B C D E, other workloads, B C D E A, ...).
# The order rotates with each repetition, so that no client always runs first, right after the last client of the
# workload before (aiohttp's burst-100k ends by giving back about 900 MB).
read -r -a client_list <<<"$CLIENTS"
for rep in $(seq 1 "$REPS"); do
  shift_by=$(( (rep - 1) % ${#client_list[@]} ))
  rotated=("${client_list[@]:$shift_by}" "${client_list[@]:0:$shift_by}")
  for w in $WORKLOADS; do
    read -r requests concurrency limit per_host file two_hosts protocol <<<"$(workload_spec "$w")"
    url="http://127.0.0.1:$port1/$file"
    [ "$protocol" = h2 ] && url="https://127.0.0.1:$port4/$file"
    args=(--workload "$w" --url "$url" --requests "$requests" --concurrency "$concurrency" --limit "$limit"
          --limit-per-host "$per_host" --expect-bytes "$(stat -c %s "$tmp/www/$file")" --warmup-seconds "$WARMUP_SECONDS" --max-seconds $((RUN_TIMEOUT - 10)))
    [ "$two_hosts" = 1 ] && args+=(--url2 "http://127.0.0.1:$port2/$file")
    [ "$protocol" = h2 ] && args+=(--http2 1)
    for c in "${rotated[@]}"; do
      # HTTP/2 compares the session with raw HttpClient only (aiohttp has no HTTP/2 client).
      if [ "$protocol" = h2 ] && [ "$c" != session ] && [ "$c" != raw ]; then
        continue
      fi
      if [ $(( $(date +%s) - started )) -ge "$BUDGET" ]; then
        skipped=$((skipped + 1))
        continue
      fi
      c1=$(wc -l < "$tmp/conn-1.log"); c2=$(wc -l < "$tmp/conn-2.log"); a=$(status_accepts)
      sample_active "$tmp/active" & sampler=$!
      t0=$(date +%s%N)
      if [ "$c" = aiohttp ]; then
        line=$(timeout "$RUN_TIMEOUT" "$PYTHON" "$here/Load/aiohttp_load.py" --client aiohttp "${args[@]}") || true
      else
        line=$(timeout "$RUN_TIMEOUT" "$exe" load --client "$c" "${args[@]}") || true
      fi
      kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
      most_open=$(cat "$tmp/active" 2>/dev/null || echo 0)
      if [ -z "$line" ]; then
        echo "  $w #$rep $c: no result (failed or timed out)" >&2
        continue
      fi
      d1=$(( $(wc -l < "$tmp/conn-1.log") - c1 )); d2=$(( $(wc -l < "$tmp/conn-2.log") - c2 ))
      accepted=$(( $(status_accepts) - a - 1 ))   # minus the status request's own connection
      [ "$protocol" = h2 ] && d1=$accepted         # the h2 listener logs no connections: nginx's accepts count them
      echo "${line%\}},\"rep\":$rep,\"conn_port1\":$d1,\"conn_port2\":$d2,\"accepted\":$accepted,\"most_open\":$most_open}" >> "$runs"
      printf '  %-11s #%s %-8s %6sms  %s\n' "$w" "$rep" "$c" "$(( ($(date +%s%N) - t0) / 1000000 ))" "$line" >&2
    done
  done
done

oneshot_table=""
if [ "$ONESHOT" != 0 ]; then
  # Issue 15: what a one-shot call (a session made for it, a new connection) costs against a session's reused one.
  oneshot="$OUT_DIR/oneshot.jsonl"
  : > "$oneshot"
  timeout "$RUN_TIMEOUT" "$exe" oneshot --url "http://127.0.0.1:$port1/small" --requests 1000 >> "$oneshot" || echo "  oneshot http: failed" >&2
  timeout "$RUN_TIMEOUT" "$exe" oneshot --url "https://127.0.0.1:$port4/small" --requests 300 >> "$oneshot" || echo "  oneshot https: failed" >&2
  cat "$oneshot" >&2
  oneshot_table=$("$PYTHON" - "$oneshot" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("| URL | call | µs per call | CPU µs per call | bytes per call | connections opened |")
print("| --- | --- | ---: | ---: | ---: | ---: |")
for r in rows:
    print(f"| {r['url'].split('://')[0]} | {r['mode']} | {r['us_per_call']:,.0f} | {r['cpu_us_per_call']:,.0f} | {r['bytes_per_call']:,.0f} | {r['connections']:,} |")
PY
)
fi

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$(( $(date +%s) - started ))
table=$("$PYTHON" "$here/Load/summarize.py" "$runs" "$WORKLOADS" "$CLIENTS")
{
  echo "Load comparison, $(date -u +%Y-%m-%dT%H:%MZ), $REPS runs per client and workload (median), interleaved, the order of the clients rotating with each repetition."
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo);" \
       ".NET $(dotnet --list-runtimes | awk '/NETCore.App/ {v=$2} END {print v}'), nginx $("$NGINX" -v 2>&1 | cut -d/ -f2)," \
       "aiohttp $("$PYTHON" -c 'import aiohttp; print(aiohttp.__version__)') on Python $("$PYTHON" -c 'import platform; print(platform.python_version())')."
  echo "Request counts scaled by $SCALE (burst-100k never); ${WARMUP_SECONDS}s warm-up per run (DOTNET_TC_CallCountingDelayMs=0). Load average (1/5/15 min) before: $load_before; after: $load_after; ${elapsed}s of runs."
  [ "$skipped" -eq 0 ] || echo "**$skipped runs skipped: the ${BUDGET}s budget ran out.**"
  echo
  echo "$table"
  if [ -n "$oneshot_table" ]; then
    echo
    echo "One-shot calls (AsyncHttpClient.GetAsync) against GETs on a session that keeps its connection, sequential, medians of 3 interleaved rounds:"
    echo
    echo "$oneshot_table"
  fi
} | tee "$OUT_DIR/load-comparison.md"
