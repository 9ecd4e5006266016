#!/usr/bin/env bash
# Case 1: push and pull of one large file. ocidrop against its embedded registry and against
# Distribution, skopeo copy against Distribution, and the limits cp and sha256.
# Usage: bench/cases/large-file.sh [MIB]   (default 1024; RUNS=3 by default)
source "$(dirname "$0")/common.sh"
need_ocidrop
need docker-registry docker-registry
need skopeo skopeo
need curl curl
MIB=${1:-1024}

random_file "$WORK/large.bin" "$MIB" elf
oci_layout "$WORK/layout" v1 "$WORK/large.bin"
echo "one file of $MIB MiB, $RUNS runs, contenders alternate"

for run in $(seq "$RUNS"); do
  echo "run $run"
  start_ocidrop
  server_reset "$OCIDROP_PID"
  timed "ocidrop push, embedded registry" node "$CLI" push "$OCIDROP_HOST/bench/large:1.0.0" "$WORK/large.bin"
  server_peak "$OCIDROP_PID"
  server_reset "$OCIDROP_PID"
  timed "ocidrop pull, embedded registry" node "$CLI" pull "$OCIDROP_HOST/bench/large:1.0.0" -o "$WORK/pulled" --platform linux/amd64
  server_peak "$OCIDROP_PID"
  stop "$OCIDROP_PID"
  rm -rf "$WORK/pulled"

  start_distribution
  timed "ocidrop push, Distribution" node "$CLI" push "$DIST_HOST/bench/large:1.0.0" "$WORK/large.bin"
  timed "ocidrop pull, Distribution" node "$CLI" pull "$DIST_HOST/bench/large:1.0.0" -o "$WORK/pulled" --platform linux/amd64
  stop "$DIST_PID"
  rm -rf "$WORK/pulled"

  start_distribution
  timed "skopeo copy (push), Distribution" "${SKOPEO_PUSH[@]}" "oci:$WORK/layout:v1" "docker://$DIST_HOST/bench/large:1.0.0"
  timed "skopeo copy (pull), Distribution" "${SKOPEO_PULL[@]}" "docker://$DIST_HOST/bench/large:1.0.0" "oci:$WORK/pulled:v1"
  stop "$DIST_PID"
  rm -rf "$WORK/pulled"

  timed "limit: cp on the same disk" cp "$WORK/large.bin" "$WORK/copy.bin"
  rm -f "$WORK/copy.bin"
  timed "limit: sha256 in node (stream)" node "$ROOT/build/bench/tools/sha256.js" "$WORK/large.bin"
  timed "limit: sha256sum" sha256sum "$WORK/large.bin"
done
