"""tools/plot_curves.py on two synthetic work dirs (one resumed, so one iteration logged twice): the
series it plots, a PNG of curves and a confusion-matrix heat map. Skipped (exit 77) without
matplotlib (Debian: python3-matplotlib for /usr/bin/python3)."""
import json
import os
import subprocess
import sys
import tempfile

try:
    import matplotlib  # noqa: F401
except ImportError:
    print("SKIPPED: no matplotlib")
    sys.exit(77)

TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "plot_curves.py")
sys.path.insert(0, os.path.dirname(TOOL))
import plot_curves  # noqa: E402


def write_run(d, files):
    os.makedirs(d)
    for i, recs in enumerate(files):
        with open(os.path.join(d, f"2026010{i}_000000.log.jsonl"), "w") as f:
            for r in recs:
                f.write(json.dumps(r) + "\n")


def train(it, epoch, loss, **kw):
    return dict(mode="train", epoch=epoch, iter=it, global_iter=it, lr=0.1, loss=loss, **kw)


def main(tmp):
    a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
    write_run(a, [[train(2, 1, 2.0, loss_kd=1.5), train(4, 1, 1.0, loss_kd=0.5),
                   {"mode": "epoch", "epoch": 1, "seconds": 3.0},
                   {"mode": "val", "epoch": 1, "global_iter": 4, "accuracy_top-1": 50.0}]])
    # b: interrupted after iteration 3, resumed from iteration 2: its iteration 3 is logged again.
    write_run(b, [[train(2, 1, 2.5), train(3, 1, 9.0)],
                  [train(3, 1, 2.0), train(4, 1, 1.5), {"mode": "val", "epoch": 1, "global_iter": 4,
                                                        "accuracy_top-1": 40.0}]])
    run_b = plot_curves.read_runs(b)
    assert plot_curves.series(run_b, "loss", "iter") == [("loss", "train", [2, 3, 4], [2.5, 2.0, 1.5])]
    assert plot_curves.series(run_b, "accuracy_top-1", "iter") == [("accuracy_top-1", "val", [4], [40.0])]
    got = [f for f, *_ in plot_curves.series(plot_curves.read_runs(a), "loss*", "iter")]
    assert got == ["loss", "loss_kd"], got
    assert plot_curves.series(run_b, "loss", "epoch") == [("loss", "train", [1], [1.5])]
    png = os.path.join(tmp, "curves.png")
    subprocess.run([sys.executable, TOOL, a, b, "--keys", "loss", "accuracy_top-1", "--legend", "A", "B",
                    "--out", png], check=True)
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    csv = os.path.join(tmp, "c.csv")
    open(csv, "w").write("true\\predicted,cat,dog\ncat,3,1\ndog,0,4\n")
    subprocess.run([sys.executable, TOOL, "--confusion", csv, "--out", os.path.join(tmp, "c.png")], check=True)
    assert open(os.path.join(tmp, "c.png"), "rb").read(4) == b"\x89PNG"
    bad = subprocess.run([sys.executable, TOOL, a, "--keys", "nothing", "--out", png], capture_output=True, text=True)
    assert bad.returncode != 0 and "no run has the key 'nothing'" in bad.stderr, bad.stderr
    print("plot_curves: series, resume, curves PNG and heat map PNG ok")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        main(d)
