#!/usr/bin/env bash
# The project's main job: installs what it needs, builds nkd (release preset), then on Fashion-MNIST
# (Debian's dataset-fashion-mnist) trains the teacher and the student without distillation, with KD,
# with NKD and with tf-NKD (configs/fashion_mnist/), and prints a table of top-1 per run and the time.
# With a GPU it runs the full recipe; without one, a reduced CPU setting (20000 images, teacher 4
# epochs, students 2, stated in the table's title) that finishes within 15 minutes on 2 cores;
# NKD_DEMO_TRAIN_LIMIT / NKD_DEMO_TEACHER_EPOCHS / NKD_DEMO_STUDENT_EPOCHS change it. NKD_DEMO_FULL=1 forces
# the full recipe; NKD_DEMO_SEEDS (default "0") lists the seeds, each a full set of runs, and the
# table then adds mean and standard deviation. NKD_DEMO_BIN=path/to/nkd_distill skips the install
# and the build (the GPU machine: tools/gpu_check.sh's bundle); NKD_DEMO_DATA overrides the
# dataset folder. After the table, tools/plot_curves.py draws the runs' curves into <out>/curves.png.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
gpu=0
command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 && gpu=1
if [[ -n "${NKD_DEMO_BIN:-}" ]]; then
  bin=$NKD_DEMO_BIN
else
  tools/install_deps.sh
  # The release preset (CUDA when nvcc is found) where a GPU is present; without a GPU the same
  # Release build without the CUDA sources (preset cpu-only), which builds in a fraction of the time.
  preset=release
  [[ $gpu == 1 ]] || preset=cpu-only
  cmake --preset $preset >/dev/null
  cmake --build --preset $preset --target nkd_distill
  bin=build/$preset/apps/nkd_distill
fi
build_s=$(( $(date +%s) - start ))

# libgomp's threads spin while waiting by default; with the loader's worker threads on 2 cores
# that spinning took 3x the step time (measured: teacher 86 -> 246 images/s), so wait passively.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
seeds=${NKD_DEMO_SEEDS:-${NKD_DEMO_SEED:-0}}
data_set=()
[[ -n "${NKD_DEMO_DATA:-}" ]] && data_set=(--set "data.root=\"$(cd "$NKD_DEMO_DATA" && pwd)\"")
if [[ "${NKD_DEMO_FULL:-0}" == 1 || $gpu == 1 ]]; then
  device=auto
  title="full recipe (60000 train images; teacher 8 epochs, students 6 epochs)"
  teacher_set=(); student_set=()
else
  device=cpu
  limit=${NKD_DEMO_TRAIN_LIMIT:-20000}; te=${NKD_DEMO_TEACHER_EPOCHS:-4}; se=${NKD_DEMO_STUDENT_EPOCHS:-2}
  vlimit=${NKD_DEMO_VAL_LIMIT:-5000}
  title="REDUCED CPU setting (first ${limit} train images, teacher ${te} epochs, students ${se} epochs, top-1 on the first ${vlimit} test images; the full recipe is 60000 images, 8 and 6 epochs, 10000 test images)"
  common=(--set data.train_limit=${limit} --set data.val_limit=${vlimit} --set runner.log_interval=10)
  teacher_set=("${common[@]}" --set runner.epochs=${te} --set runner.eval_interval=${te})
  student_set=("${common[@]}" --set runner.epochs=${se} --set runner.eval_interval=${se})
fi

out=${NKD_DEMO_OUT:-work_dirs/fashion_mnist}
rm -rf "$out"
run() {  # seed, name, extra args...
  local seed=$1 name=$2; shift 2
  local dir="$out/seed$seed/$name"
  echo "=== seed $seed: $name ($(date +%T))"
  # The students' configs name the teacher checkpoint under work_dirs/fashion_mnist/teacher: point
  # them at this seed's teacher.
  "$bin" "configs/fashion_mnist/$name.toml" --work-dir "$dir" --device "$device" --seed "$seed" \
    "${data_set[@]}" "$@" 2>&1 | grep --line-buffered -E '^(Epoch|done|nkd)' || true
  [[ -f "$dir/result.json" ]] || { echo "demo: run $name (seed $seed) failed; see $dir/*.log" >&2; exit 1; }
}
for seed in $seeds; do
  run "$seed" teacher "${teacher_set[@]}"
  teacher_ckpt=(--set "model.teacher.checkpoint=\"$out/seed$seed/teacher/latest.safetensors\"")
  for s in student_ce student_kd student_nkd student_tfnkd; do
    extra=("${student_set[@]}")
    grep -q with_teacher "configs/fashion_mnist/$s.toml" && extra+=("${teacher_ckpt[@]}")
    run "$seed" "$s" "${extra[@]}"
  done
done

total_s=$(( $(date +%s) - start ))
python3 - "$out" "$title" "$build_s" "$total_s" $seeds <<'PY'
import json, statistics, sys
out, title, build_s, total_s, *seeds = sys.argv[1:]
rows = [("teacher", "ResNet-18 x0.25, CE"), ("student_ce", "ResNet-18 x0.125, CE only"),
        ("student_kd", "x0.125, KD (T=4, alpha=0.9)"), ("student_nkd", "x0.125, NKD (T=1, gamma=1.5)"),
        ("student_tfnkd", "x0.125, tf-NKD")]
res = {(n, s): json.load(open(f"{out}/seed{s}/{n}/result.json")) for n, _ in rows for s in seeds}
print(f"\nFashion-MNIST, {title}, seed(s) {' '.join(seeds)}\n")
head = "| run | model / method | " + " | ".join(f"top-1 seed {s} (%)" for s in seeds)
head += " | mean | std |" if len(seeds) > 1 else " | top-5 (%) |"
print(head + " train time (s) |")
print("|---|---|" + "---|" * (len(seeds) + 3 if len(seeds) > 1 else 3))
for name, desc in rows:
    top1 = [res[name, s]["top1"] for s in seeds]
    cells = " | ".join(f"{t:.2f}" for t in top1)
    if len(seeds) > 1:
        cells += f" | {statistics.mean(top1):.2f} | {statistics.stdev(top1):.2f}"
    else:
        cells += f" | {res[name, seeds[0]]['top5']:.2f}"
    secs = statistics.mean(res[name, s]["train_seconds"] for s in seeds)
    print(f"| {name} | {desc} | {cells} | {secs:.0f} |")
print(f"\nbuild {build_s} s, total (install + build + {5 * len(seeds)} runs) {total_s} s")
PY

# Curves of the first seed's five runs (tools/plot_curves.py, Debian's python3-matplotlib), after
# the table: top-1 at each evaluation and the loss at each logged iteration.
plot_py=/usr/bin/python3
[[ -x $plot_py ]] || plot_py=python3
seed0=${seeds%% *}
names=(teacher student_ce student_kd student_nkd student_tfnkd)
if "$plot_py" tools/plot_curves.py "${names[@]/#/$out/seed$seed0/}" --keys accuracy_top-1 loss --log-y \
    --legend "${names[@]}" --title "Fashion-MNIST, seed $seed0" --out "$out/curves.png" >/dev/null; then
  echo "curves: $out/curves.png"
else
  echo "demo: no curves plot (tools/plot_curves.py needs python3-matplotlib)" >&2
fi
