#!/usr/bin/env bash
# Issue 20: does the GPU's lower tf-NKD top-1 come from cuDNN's inexact convolution algorithms? Runs
# the Fashion-MNIST student recipe (configs/fashion_mnist/, full recipe) with tf-NKD and with CE only,
# for each seed, with runner.conv_algos = "exact" and = "fast", paired (seed, method, then both
# settings, so a run cut short by the budget still leaves whole pairs), and prints a table of top-1
# per seed and setting, with mean, std and the paired difference fast - exact. Needs no teacher.
#   NKD_CONV_BIN      nkd_distill (default build/release/apps/nkd_distill)
#   NKD_CONV_DATA     the Fashion-MNIST folder (default: the configs' data.root)
#   NKD_CONV_SEEDS    default "0 1 2"
#   NKD_CONV_OUT      work folder (default /tmp/nkd_conv_algos; emptied first)
#   NKD_CONV_BUDGET_S stop starting runs when the next one would end past it (default 280)
#   NKD_CONV_DEVICE   default cuda
#   NKD_CONV_EXTRA    more nkd_distill arguments (e.g. "--set data.train_limit=512" for a quick try)
# NKD_CONV_EXACT is removed from the runs' environment (it would override "fast").
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
start=$(date +%s)
bin=${NKD_CONV_BIN:-build/release/apps/nkd_distill}
seeds=${NKD_CONV_SEEDS:-0 1 2}
out=${NKD_CONV_OUT:-/tmp/nkd_conv_algos}
budget=${NKD_CONV_BUDGET_S:-280}
device=${NKD_CONV_DEVICE:-cuda}
data_set=()
[[ -n "${NKD_CONV_DATA:-}" ]] && data_set=(--set "data.root=\"$(cd "$NKD_CONV_DATA" && pwd)\"")
# shellcheck disable=SC2206  # NKD_CONV_EXTRA is a list of arguments
extra=(${NKD_CONV_EXTRA:-})
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
rm -rf "$out"
longest=0
for seed in $seeds; do
  for cfg in student_tfnkd student_ce; do
    for algos in exact fast; do
      elapsed=$(( $(date +%s) - start ))
      if (( elapsed + longest * 11 / 10 > budget )); then
        echo "conv_algos: out of budget (${elapsed}s of ${budget}s) before seed $seed $cfg $algos"
        break 3
      fi
      dir="$out/$algos/seed$seed/$cfg"
      echo "=== seed $seed: $cfg, conv algorithms $algos ($(date +%T))"
      t0=$(date +%s)
      env -u NKD_CONV_EXACT "$bin" "configs/fashion_mnist/$cfg.toml" --work-dir "$dir" --device "$device" \
        --seed "$seed" --set "runner.conv_algos=\"$algos\"" "${data_set[@]}" "${extra[@]}" 2>&1 |
        grep --line-buffered -E '^(done|nkd)' || true
      t=$(( $(date +%s) - t0 ))
      (( t > longest )) && longest=$t
      [[ -f "$dir/result.json" ]] || echo "conv_algos: run $cfg seed $seed ($algos) failed; see $dir/*.log"
    done
  done
done

# shellcheck disable=SC2086  # seeds are words
python3 - "$out" "${NKD_CONV_EXTRA:-}" $seeds <<'PY'
import json, os, statistics, sys
out, extra, *seeds = sys.argv[1:]
def top1(algos, cfg, seed):
    p = f"{out}/{algos}/seed{seed}/{cfg}/result.json"
    return json.load(open(p))["top1"] if os.path.exists(p) else None
recipe = f"recipe with {extra}" if extra else "full recipe"
print(f"\nFashion-MNIST student ({recipe}), top-1 (%) by runner.conv_algos, seeds {' '.join(seeds)}\n")
print("| method | conv_algos | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | std |")
print("|---|---|" + "---|" * (len(seeds) + 2))
for cfg, name in (("student_tfnkd", "tf-NKD"), ("student_ce", "CE")):
    for algos in ("exact", "fast"):
        v = [top1(algos, cfg, s) for s in seeds]
        got = [x for x in v if x is not None]
        mean = f"{statistics.mean(got):.2f}" if got else "-"
        std = f"{statistics.stdev(got):.2f}" if len(got) > 1 else "-"
        cells = " | ".join("-" if x is None else f"{x:.2f}" for x in v)
        print(f"| {name} | {algos} | {cells} | {mean} | {std} |")
    pairs = [(top1("fast", cfg, s), top1("exact", cfg, s)) for s in seeds]
    d = [f - e for f, e in pairs if f is not None and e is not None]
    if d:
        print(f"| {name} | fast - exact | " + " | ".join("-" if f is None or e is None else f"{f - e:+.2f}" for f, e in pairs)
              + f" | {statistics.mean(d):+.2f} | {statistics.stdev(d) if len(d) > 1 else 0:.2f} |")
PY
# The header of one run per setting: the setting reached the trainer.
for algos in exact fast; do
  f=$(ls "$out/$algos"/seed*/student_*/*.log 2>/dev/null | head -1)
  [[ -n "$f" ]] && grep -m1 -o 'conv algorithms [a-z]* ([^)]*)' "$f" | sed "s/^/header of a $algos run: /"
done
echo "conv_algos: $(( $(date +%s) - start ))s"
