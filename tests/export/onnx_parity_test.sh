#!/usr/bin/env bash
# ONNX export parity (ctest export.onnx_parity, label cpu): each of the seven nets, with seeded
# random weights, is written as a checkpoint and exported by `nkd_transfer --format onnx`; PyPI's
# onnxruntime (and onnx's checker) in a test-only venv under the build folder, kept between runs,
# must give nkd's logits at batch 1 and 3 (tests/export/check_onnx_parity.py). Exit 77 (skipped)
# when the venv or the packages cannot be had.
#   onnx_parity_test.sh ONNX_PARITY_DUMP NKD_TRANSFER VENV_DIR
set -euo pipefail
dump=$1 transfer=$2 venv=$3
here=$(cd "$(dirname "$0")" && pwd)
py=$(command -v python3 || true)
[ -n "$py" ] || { echo "SKIPPED: no python3"; exit 77; }
if ! "$venv/bin/python" -c "import onnxruntime, onnx, numpy" 2>/dev/null; then
  "$py" -m venv "$venv" >/dev/null 2>&1 || { echo "SKIPPED: python3 -m venv failed (apt-get install python3-venv)"; exit 77; }
  "$venv/bin/pip" install -q onnxruntime onnx numpy >/dev/null 2>&1 ||
    { echo "SKIPPED: pip install onnxruntime onnx failed (no PyPI?)"; exit 77; }
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# CNNs at 64 px (their strides leave 2x2 maps); Swin-T at 112: maps of 28 and 14 (shifted windows
# with their masks), 7 (one window, no shift) and 4 (padded to a window, then cropped).
specs=(resnet18:64 resnet34:64 resnet50:64 mobilenet_v1:64 mobilenet_v2:64 shufflenet_v2:64 swin_tiny:112)
for spec in "${specs[@]}"; do
  net=${spec%%:*} size=${spec##*:}
  "$dump" "$net" "$size" "$tmp/$net"
  "$transfer" --dis-path "$tmp/$net.safetensors" --output-path "$tmp/$net.onnx" --format onnx --input-size "$size"
done
echo "exported ${#specs[@]} nets in ${SECONDS}s"
"$venv/bin/python" "$here/check_onnx_parity.py" "$tmp" "${specs[@]}"
