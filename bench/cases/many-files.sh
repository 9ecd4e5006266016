#!/usr/bin/env bash
# Case 2: an artifact of 200 files of 1 MiB and one of many small files, pushed and pulled by
# ocidrop (embedded registry and Distribution) and, for the 200 files, by skopeo as 200 layers.
# Usage: bench/cases/many-files.sh [SMALL_COUNT]   (default 5000 files of 4 KiB; RUNS=3 by default)
source "$(dirname "$0")/common.sh"
need_ocidrop
need docker-registry docker-registry
need skopeo skopeo
need curl curl
SMALL=${1:-5000}

mkdir -p "$WORK/medium" "$WORK/small"
for i in $(seq -w 1 200); do head -c 1048576 /dev/urandom >"$WORK/medium/file-$i.bin"; done
for i in $(seq -w 1 "$SMALL"); do head -c 4096 /dev/urandom >"$WORK/small/file-$i.bin"; done
oci_layout "$WORK/layout" v1 "$WORK"/medium/*
echo "200 × 1 MiB and $SMALL × 4 KiB, $RUNS runs"

for run in $(seq "$RUNS"); do
  echo "run $run"
  for set in medium small; do
    start_ocidrop
    timed "ocidrop push $set, embedded registry" node "$CLI" push "$OCIDROP_HOST/bench/$set:1.0.0" "$WORK/$set"/*
    timed "ocidrop pull $set, embedded registry" node "$CLI" pull "$OCIDROP_HOST/bench/$set:1.0.0" -o "$WORK/pulled"
    stop "$OCIDROP_PID"
    rm -rf "$WORK/pulled"

    start_distribution
    timed "ocidrop push $set, Distribution" node "$CLI" push "$DIST_HOST/bench/$set:1.0.0" "$WORK/$set"/*
    timed "ocidrop pull $set, Distribution" node "$CLI" pull "$DIST_HOST/bench/$set:1.0.0" -o "$WORK/pulled"
    stop "$DIST_PID"
    rm -rf "$WORK/pulled"

    timed "limit: cp -r $set" cp -r "$WORK/$set" "$WORK/copy"
    rm -rf "$WORK/copy"
  done

  start_distribution
  timed "skopeo copy (push) medium, Distribution" "${SKOPEO_PUSH[@]}" "oci:$WORK/layout:v1" "docker://$DIST_HOST/bench/medium:1.0.0"
  timed "skopeo copy (pull) medium, Distribution" "${SKOPEO_PULL[@]}" "docker://$DIST_HOST/bench/medium:1.0.0" "oci:$WORK/pulled:v1"
  stop "$DIST_PID"
  rm -rf "$WORK/pulled"
done
