#!/usr/bin/env bash
# The project's main job. Until apps/distill exists (the distillation issue), it builds nkd and
# runs the conv2d benchmark against PyTorch on this machine (apps/bench, `nkd_bench conv`).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
cmake --preset release
cmake --build --preset release --target nkd_bench
build/release/apps/nkd_bench conv "$@"
