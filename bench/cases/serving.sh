#!/usr/bin/env bash
# Case 3: GET of a large blob from the embedded registry, through the gateway, from Distribution
# and from nginx; then N concurrent downloads of one file through the gateway and from nginx.
# Usage: bench/cases/serving.sh [MIB] [CONCURRENT] [EACH_MIB]   (defaults 1024 200 100; RUNS=3)
source "$(dirname "$0")/common.sh"
need_ocidrop
need docker-registry docker-registry
need nginx nginx-light
need curl curl
MIB=${1:-1024}
CONCURRENT=${2:-200}
EACH=${3:-100}

mkdir -p "$WORK/www"
random_file "$WORK/www/large.bin" "$MIB" elf
random_file "$WORK/www/shared.bin" "$EACH" elf
DIGEST=sha256:$(sha256sum "$WORK/www/large.bin" | cut -d' ' -f1)
SHARED=sha256:$(sha256sum "$WORK/www/shared.bin" | cut -d' ' -f1)
start_ocidrop
start_distribution
start_nginx "$WORK/www"
for host in "$OCIDROP_HOST" "$DIST_HOST"; do
  node "$CLI" push "$host/bench/large:1.0.0" "$WORK/www/large.bin" >/dev/null
  node "$CLI" push "$host/bench/shared:1.0.0" "$WORK/www/shared.bin" >/dev/null
done
GET=(curl --silent --show-error --no-progress-meter --fail --location --output /dev/null)
echo "GET of $MIB MiB, $RUNS runs"

for run in $(seq "$RUNS"); do
  server_reset "$OCIDROP_PID"
  timed "embedded registry blob GET" "${GET[@]}" "$OCIDROP_URL/v2/bench/large/blobs/$DIGEST"
  server_peak "$OCIDROP_PID"
  server_reset "$OCIDROP_PID"
  timed "gateway download" "${GET[@]}" "$OCIDROP_URL/bench/large/latest/download?os=linux&arch=amd64"
  server_peak "$OCIDROP_PID"
  server_reset "$DIST_PID"
  timed "Distribution blob GET" "${GET[@]}" "$DIST_URL/v2/bench/large/blobs/$DIGEST"
  server_peak "$DIST_PID"
  server_reset "$NGINX_PID"
  timed "nginx GET" "${GET[@]}" "$NGINX_URL/large.bin"
  server_peak "$NGINX_PID"
done

# urls URL: writes a curl config that downloads URL CONCURRENT times, for one curl --parallel.
urls() {
  for _ in $(seq "$CONCURRENT"); do printf 'url = "%s"\noutput = "/dev/null"\n' "$1"; done >"$WORK/parallel.curlrc"
}
PARALLEL=("${GET[@]}" --parallel --parallel-immediate --parallel-max "$CONCURRENT" --config "$WORK/parallel.curlrc")
echo "$CONCURRENT concurrent downloads of $EACH MiB"
for run in $(seq "$RUNS"); do
  server_reset "$OCIDROP_PID"
  urls "$OCIDROP_URL/bench/shared/latest/download?os=linux&arch=amd64"
  timed "gateway, $CONCURRENT concurrent" "${PARALLEL[@]}"
  server_peak "$OCIDROP_PID"
  server_reset "$OCIDROP_PID"
  urls "$OCIDROP_URL/v2/bench/shared/blobs/$SHARED"
  timed "embedded registry, $CONCURRENT concurrent" "${PARALLEL[@]}"
  server_peak "$OCIDROP_PID"
  server_reset "$NGINX_PID"
  urls "$NGINX_URL/shared.bin"
  timed "nginx, $CONCURRENT concurrent" "${PARALLEL[@]}"
  server_peak "$NGINX_PID"
done
