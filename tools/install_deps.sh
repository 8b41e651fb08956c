#!/usr/bin/env bash
# Installs the Debian packages nkd builds, tests and runs with (only the missing ones); python3-venv
# is for the TensorBoard and ONNX parity tests (test-only venvs), python3-matplotlib for
# tools/plot_curves.py, libonnx-dev / libprotobuf-dev for the ONNX export (export/; without them
# it is left out of the build).
# The CUDA 13 toolkit (nvcc, cuDNN, cuBLAS, NCCL) is expected under /usr/local/cuda when present;
# without it the build is CPU-only.
set -euo pipefail
packages=(
  cmake ninja-build g++ pkg-config
  libopenblas-dev libgtest-dev libgmock-dev nlohmann-json3-dev libtomlplusplus-dev libcli11-dev
  libjpeg62-turbo-dev libturbojpeg0-dev libpng-dev zlib1g-dev
  python3-torch python3-torchvision python3-numpy python3-pil python3-skimage python3-opencv
  python3-matplotlib python3-venv
  dataset-fashion-mnist
  libopenmpi-dev openmpi-bin
  libonnx-dev libprotobuf-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install_deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
