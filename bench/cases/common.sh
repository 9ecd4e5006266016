# Shared helpers of the case scripts: sourced, not run. They start servers on free 127.0.0.1 ports
# with their data under one temporary folder ($WORK), time commands with /usr/bin/time and stop
# everything on exit. The TypeScript runner (bench/run.ts) does the same with more bookkeeping.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CLI="$ROOT/build/src/cli/main.js"
RUNS=${RUNS:-3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ocidrop-bench-case-XXXXXX")
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# need TOOL PACKAGE: exits with the install command when TOOL is missing.
need() {
  if ! command -v "$1" >/dev/null && [ ! -x "/usr/sbin/$1" ]; then
    echo "$1 is missing: install it with apt-get install $2" >&2
    exit 1
  fi
}

need_ocidrop() {
  if ! node "$CLI" --version >/dev/null 2>&1; then
    echo "ocidrop is not built or does not run: run npx tsc -p . in $ROOT" >&2
    exit 1
  fi
}

# free_port: prints a port that was free a moment ago.
free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# timed LABEL COMMAND...: runs COMMAND and prints LABEL, wall seconds and the peak RSS in KiB.
timed() {
  local label=$1
  shift
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "$label: %e s, peak RSS %M KiB" "$@" >/dev/null
  else
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null
    end=$(date +%s.%N)
    echo "$label: $(awk "BEGIN { print $end - $start }") s" >&2
  fi
}

# server_peak PID: prints the server's peak RSS (VmHWM) since the last server_reset.
server_peak() { grep VmHWM "/proc/$1/status" | awk '{print "  server peak RSS " $2 " KiB"}' >&2; }
server_reset() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true; }

# random_file PATH MIB [elf]: writes MIB MiB of random bytes; with "elf", the file starts with an
# ELF64 x86-64 header, so ocidrop publishes it as the linux/amd64 program.
random_file() {
  if [ "${3:-}" = elf ]; then
    {
      printf '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000\002\000\076\000\001\000\000\000'
      head -c 40 /dev/zero
      head -c $(($2 * 1048576 - 64)) /dev/urandom
    } >"$1"
  else
    head -c $(($2 * 1048576)) /dev/urandom >"$1"
  fi
}

# start_ocidrop: starts `ocidrop serve`; sets OCIDROP_URL, OCIDROP_HOST and OCIDROP_PID.
start_ocidrop() {
  local data
  data=$(mktemp -d "$WORK/serve-XXXX")
  node "$CLI" serve --data "$data" --host 127.0.0.1 --port 0 >"$data.out" 2>/dev/null &
  OCIDROP_PID=$!
  PIDS+=("$OCIDROP_PID")
  for _ in $(seq 100); do
    OCIDROP_URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$data.out" | head -n 1 || true)
    [ -n "$OCIDROP_URL" ] && break
    sleep 0.1
  done
  [ -n "$OCIDROP_URL" ] || { echo "ocidrop serve printed no URL" >&2; exit 1; }
  OCIDROP_HOST=${OCIDROP_URL#http://}
}

# start_distribution: starts docker-registry; sets DIST_URL, DIST_HOST and DIST_PID.
start_distribution() {
  local folder port
  folder=$(mktemp -d "$WORK/distribution-XXXX")
  port=$(free_port)
  cat >"$folder/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $folder/data
http:
  addr: 127.0.0.1:$port
EOF
  docker-registry serve "$folder/config.yml" 2>/dev/null &
  DIST_PID=$!
  PIDS+=("$DIST_PID")
  DIST_HOST=127.0.0.1:$port
  DIST_URL=http://$DIST_HOST
  for _ in $(seq 100); do curl -s -o /dev/null "$DIST_URL/v2/" && break || sleep 0.1; done
}

# start_nginx ROOT: serves ROOT with one nginx process; sets NGINX_URL and NGINX_PID.
start_nginx() {
  local folder port nginx
  folder=$(mktemp -d "$WORK/nginx-XXXX")
  port=$(free_port)
  nginx=$(command -v nginx || echo /usr/sbin/nginx)
  cat >"$folder/nginx.conf" <<EOF
daemon off;
master_process off;
pid $folder/nginx.pid;
error_log $folder/error.log error;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  client_body_temp_path $folder;
  proxy_temp_path $folder;
  fastcgi_temp_path $folder;
  uwsgi_temp_path $folder;
  scgi_temp_path $folder;
  server { listen 127.0.0.1:$port; root $1; }
}
EOF
  "$nginx" -p "$folder" -c "$folder/nginx.conf" &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  NGINX_URL=http://127.0.0.1:$port
  for _ in $(seq 100); do curl -s -o /dev/null "$NGINX_URL/" && break || sleep 0.1; done
}

# stop PID: stops one server started above.
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# oci_layout DIR TAG FILE...: writes an OCI image layout whose image TAG has one uncompressed
# layer per FILE (hard links), for skopeo.
oci_layout() {
  local dir=$1 tag=$2
  shift 2
  mkdir -p "$dir/blobs/sha256"
  local layers="" diffs="" digest size
  for file in "$@"; do
    digest=$(sha256sum "$file" | cut -d' ' -f1)
    size=$(stat -c %s "$file")
    ln -f "$file" "$dir/blobs/sha256/$digest"
    layers+="${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:$digest\",\"size\":$size}"
    diffs+="${diffs:+,}\"sha256:$digest\""
  done
  printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[%s]}}' "$diffs" >"$dir/config"
  local config_digest config_size manifest_digest manifest_size
  config_digest=$(sha256sum "$dir/config" | cut -d' ' -f1)
  config_size=$(stat -c %s "$dir/config")
  mv "$dir/config" "$dir/blobs/sha256/$config_digest"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
    "$config_digest" "$config_size" "$layers" >"$dir/manifest"
  manifest_digest=$(sha256sum "$dir/manifest" | cut -d' ' -f1)
  manifest_size=$(stat -c %s "$dir/manifest")
  mv "$dir/manifest" "$dir/blobs/sha256/$manifest_digest"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest_digest" "$manifest_size" "$tag" >"$dir/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
}

SKOPEO_PUSH=(skopeo --insecure-policy copy --quiet --preserve-digests --dest-tls-verify=false)
SKOPEO_PULL=(skopeo --insecure-policy copy --quiet --preserve-digests --src-tls-verify=false --dest-oci-accept-uncompressed-layers)
