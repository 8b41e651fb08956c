#!/usr/bin/env python3
"""Training curves from nkd work dirs' JSON lines (*.log.jsonl) as PNG, like mmcls's
analyze_logs.py plot_curve: one panel per key, several runs on one axis with a legend. Keys are
JSON-lines fields (loss, loss_kd, lr, accuracy_top-1, images_per_s, ...) or patterns (loss*);
train keys are plotted per logged iteration, val keys per evaluation. With --confusion, a heat map
of a confusion-matrix CSV written by nkd_eval --metrics confusion instead.

  tools/plot_curves.py work_dirs/a work_dirs/b --keys loss accuracy_top-1 --legend a b --out c.png
  tools/plot_curves.py --confusion eval_confusion.csv --out confusion.png

Needs matplotlib (Debian: python3-matplotlib, for /usr/bin/python3)."""
import argparse
import csv
import fnmatch
import glob
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SKIP = {"mode", "epoch", "iter", "global_iter"}


def read_runs(work_dir):
    """{mode: {x: record}} for mode train and val; x = (global_iter, epoch). A resumed run's
    records replace those its predecessor logged at the same iteration."""
    files = sorted(glob.glob(os.path.join(work_dir, "*.log.jsonl")))
    if not files:
        sys.exit(f"plot_curves: no *.log.jsonl in {work_dir}")
    out = {"train": {}, "val": {}}
    for path in files:
        for line in open(path):
            rec = json.loads(line)
            if rec.get("mode") in out:
                out[rec["mode"]][rec.get("global_iter", 0)] = rec
    return out


def series(run, key, xaxis):
    """(label suffix, xs, ys) for every JSON-lines field of the run matching key."""
    found = []
    for mode in ("train", "val"):
        recs = [run[mode][k] for k in sorted(run[mode])]
        fields = sorted({f for r in recs for f in r if f not in SKIP and fnmatch.fnmatchcase(f, key)})
        for f in fields:
            pts = [(r["epoch"] if xaxis == "epoch" else r.get("global_iter", 0), r[f]) for r in recs if f in r]
            if xaxis == "epoch" and mode == "train":  # one point per epoch: its last logged value
                pts = sorted(dict(pts).items())
            found.append((f, mode, [p[0] for p in pts], [p[1] for p in pts]))
    return found


def plot_curves(args):
    legend = args.legend or [os.path.basename(os.path.normpath(d)) for d in args.work_dirs]
    if len(legend) != len(args.work_dirs):
        sys.exit("plot_curves: --legend needs one name per work dir")
    runs = [read_runs(d) for d in args.work_dirs]
    fig, axes = plt.subplots(1, len(args.keys), figsize=(6.4 * len(args.keys), 4.8), squeeze=False)
    for ax, key in zip(axes[0], args.keys):
        drawn = 0
        for name, run in zip(legend, runs):
            for field, mode, xs, ys in series(run, key, args.xaxis):
                label = name if field == key else f"{name}: {field}"
                ax.plot(xs, ys, label=label, marker="o" if mode == "val" or len(xs) < 3 else None,
                        linewidth=1.2)
                drawn += 1
        if not drawn:
            sys.exit(f"plot_curves: no run has the key '{key}'")
        ax.set_xlabel("epoch" if args.xaxis == "epoch" else "iteration")
        ax.set_ylabel(key + (" (%)" if key.startswith("accuracy") else ""))
        if key == "lr" or key.startswith("loss"):
            ax.set_yscale("log" if args.log_y else "linear")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    if args.title:
        fig.suptitle(args.title, fontsize="medium")
    fig.tight_layout()
    fig.savefig(args.out, dpi=args.dpi)
    print(f"plot_curves: wrote {args.out}")


def plot_confusion(args):
    with open(args.confusion) as f:
        rows = list(csv.reader(f))
    names = rows[0][1:]
    counts = [[int(v) for v in r[1:]] for r in rows[1:]]
    n = len(names)
    fig, ax = plt.subplots(figsize=(max(6.4, 0.55 * n + 2), max(4.8, 0.5 * n + 1.5)))
    im = ax.imshow(counts, cmap="Blues")
    fig.colorbar(im, ax=ax, label="images")
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    top = max(max(r) for r in counts) if counts else 0
    if n <= 30:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(counts[i][j]), ha="center", va="center", fontsize="x-small",
                        color="white" if counts[i][j] > top / 2 else "black")
    ax.set_title(args.title or f"confusion matrix: {os.path.basename(args.confusion)}", fontsize="medium")
    fig.tight_layout()
    fig.savefig(args.out, dpi=args.dpi)
    print(f"plot_curves: wrote {args.out}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("work_dirs", nargs="*", help="nkd work dirs (each with *.log.jsonl)")
    p.add_argument("--keys", nargs="+", default=["loss", "accuracy_top-1"],
                   help="JSON-lines fields or patterns, one panel each (default: loss accuracy_top-1)")
    p.add_argument("--legend", nargs="+", help="one name per work dir (default: the folder names)")
    p.add_argument("--xaxis", choices=["iter", "epoch"], default="iter")
    p.add_argument("--log-y", action="store_true", help="log scale for loss and lr panels")
    p.add_argument("--title")
    p.add_argument("--confusion", help="a confusion-matrix CSV (nkd_eval --metrics confusion) to draw")
    p.add_argument("--dpi", type=int, default=100)
    p.add_argument("--out", required=True, help="the PNG to write")
    args = p.parse_args()
    if args.confusion:
        plot_confusion(args)
    elif args.work_dirs:
        plot_curves(args)
    else:
        p.error("give work dirs, or --confusion CSV")


if __name__ == "__main__":
    main()
