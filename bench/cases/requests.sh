#!/usr/bin/env bash
# Case 4: requests per second with wrk: manifest GET by tag on the embedded registry and on
# Distribution, the gateway's page, latest.json and download redirect, and nginx on a small file.
# Usage: bench/cases/requests.sh [SECONDS]   (default 10; RUNS=3 by default)
source "$(dirname "$0")/common.sh"
need_ocidrop
need docker-registry docker-registry
need nginx nginx-light
need wrk wrk
SECONDS_PER_RUN=${1:-10}
ACCEPT='Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json'

mkdir -p "$WORK/www"
random_file "$WORK/www/hello" 1 elf
printf '{"name":"hello","version":"1.0.0"}' >"$WORK/www/small.json"
start_ocidrop
start_distribution
start_nginx "$WORK/www"
node "$CLI" push "$OCIDROP_HOST/bench/hello:1.0.0" "$WORK/www/hello" >/dev/null
node "$CLI" push "$DIST_HOST/bench/hello:1.0.0" "$WORK/www/hello" >/dev/null
WRK=(wrk -t2 -c50 "-d${SECONDS_PER_RUN}s")

rate() { echo "$1: $("${WRK[@]}" "${@:2}" | grep -E 'Requests/sec|Non-2xx' | tr -s ' ' | tr '\n' ' ')"; }
for run in $(seq "$RUNS"); do
  echo "run $run"
  rate "embedded registry manifest GET" -H "$ACCEPT" "$OCIDROP_URL/v2/bench/hello/manifests/1.0.0"
  rate "Distribution manifest GET" -H "$ACCEPT" "$DIST_URL/v2/bench/hello/manifests/1.0.0"
  rate "nginx small file" "$NGINX_URL/small.json"
  rate "gateway page" "$OCIDROP_URL/bench/hello"
  rate "gateway latest.json" "$OCIDROP_URL/bench/hello/latest.json"
  rate "gateway download redirect" "$OCIDROP_URL/bench/hello/latest/download?os=linux&arch=amd64"
done
