#!/bin/sh
# Data-pipeline benchmark (docs/PERF.md): builds the image set, then runs nkd_bench_data and the
# PIL + torchvision peer on the same files in the same run.
# Each round runs nkd then PIL; rounds interleave so both see the same machine load (take the best).
# Usage: tools/bench_data.sh BUILD_DIR [OUT=/tmp/nkd_bench_images] [COUNT=256] [EPOCHS=2] [ROUNDS=3]
set -e
BUILD=${1:?usage: tools/bench_data.sh BUILD_DIR [OUT] [COUNT] [EPOCHS]}
OUT=${2:-/tmp/nkd_bench_images}
COUNT=${3:-256}
EPOCHS=${4:-2}
ROUNDS=${5:-3}
HERE=$(dirname "$0")
[ -d "$OUT/train" ] || /usr/bin/python3 "$HERE/make_bench_images.py" "$OUT" "$COUNT"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%d)"
for round in $(seq "$ROUNDS"); do
  echo "round $round"
  "$BUILD/data/nkd_bench_data" "$OUT" "$EPOCHS"
  /usr/bin/python3 "$HERE/bench_pil.py" "$OUT/train" "$EPOCHS"
done
