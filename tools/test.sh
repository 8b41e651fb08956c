#!/usr/bin/env bash
# The project's test command: installs missing Debian packages, configures and builds the release
# preset (CUDA sources are compiled when nvcc is present), then runs the `cpu` and `parity` tests.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
cmake --preset release
cmake --build --preset release
ctest --preset release -L 'cpu|parity'
