#!/usr/bin/env bash
# nkd_distill's TensorBoard event files read back by TensorBoard itself (check_tensorboard_events.py):
# an uninterrupted run, a run stopped mid-epoch and resumed, then resumed again from an earlier
# checkpoint (its steps logged twice: TensorBoard keeps the newest). TensorBoard comes from PyPI
# into a test-only virtual environment under the build folder; without it the test is skipped
# (exit 77), never passed.
# usage: tensorboard_events_test.sh NKD_DISTILL VENV_DIR
set -euo pipefail
distill=$1 venv=$2
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
[[ -x $py ]] || py=python3
if ! "$venv/bin/python" -c "import tensorboard" 2>/dev/null; then
  "$py" -m venv "$venv" >/dev/null 2>&1 || { echo "SKIPPED: python3 -m venv failed (apt-get install python3-venv)"; exit 77; }
  "$venv/bin/pip" install -q tensorboard >/dev/null 2>&1 || { echo "SKIPPED: pip install tensorboard failed (no PyPI?)"; exit 77; }
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A learnable Fashion-MNIST-like IDX set (tests/apps/app_test_util.h's write_fake_fashion_mnist).
"$py" - "$tmp/data" <<'PY'
import os, struct, sys
root = sys.argv[1]; os.makedirs(root)
for split, n in (("train", 192), ("t10k", 32)):
    labels = [(i * 7 + i // 3) % 10 for i in range(n)]
    px = bytearray()
    for i in range(n):
        for p in range(784):
            noise = ((i * 2654435761 + p * 40503) >> 7) % 60
            px.append(noise + (180 if (p // 28) // 3 == labels[i] else 0))
    open(f"{root}/{split}-images-idx3-ubyte.gz", "wb").write(struct.pack(">IIII", 0x803, n, 28, 28) + px)
    open(f"{root}/{split}-labels-idx1-ubyte.gz", "wb").write(struct.pack(">II", 0x801, n) + bytes(labels))
PY
cat > "$tmp/c.toml" <<TOML
[model]
num_classes = 10
in_channels = 1
[model.student]
net = "resnet18"
small_input = true
width = 0.125
[data]
type = "fashion_mnist"
root = "$tmp/data"
batch_size = 32
workers = 2
[data.train]
type = "pad_crop_flip"
pad = 2
[data.val]
type = "center"
[optimizer]
lr = 0.05
[lr]
policy = "cosine"
by_epoch = false
[runner]
log_interval = 4
epochs = 2
TOML
export OMP_WAIT_POLICY=passive
d() { "$distill" "$tmp/c.toml" --device cpu "$@" >>"$tmp/out.log" 2>&1 || { cat "$tmp/out.log"; exit 1; }; }
d --work-dir "$tmp/a"
d --work-dir "$tmp/b" --stop-after-iters 5
d --work-dir "$tmp/b" --resume auto
"$venv/bin/python" "$here/check_tensorboard_events.py" "$tmp/b" "$tmp/a" 2
# The last epoch again, from epoch 1's checkpoint, as after a kill that lost the newer ones.
rm "$tmp/b/epoch_2.safetensors" "$tmp/b/latest.safetensors"
d --work-dir "$tmp/b" --resume auto
"$venv/bin/python" "$here/check_tensorboard_events.py" "$tmp/b" "$tmp/a" 3
"$venv/bin/python" "$here/check_tensorboard_events.py" "$tmp/a" "" 1
d --work-dir "$tmp/off" --set runner.tensorboard=false
[[ ! -e "$tmp/off/tf_logs" ]] || { echo "FAIL: runner.tensorboard = false wrote $tmp/off/tf_logs"; exit 1; }
echo "runner.tensorboard = false: no tf_logs folder"
echo "PASSED"
