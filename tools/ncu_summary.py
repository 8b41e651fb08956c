#!/usr/bin/env python3
"""Where a profiled step's GPU time goes: reads Nsight Compute's CSV (ncu --csv --metrics
gpu__time_duration.sum --print-kernel-base demangled, as tools/gpu_check.sh's profile step writes
it) and prints a Markdown table of the kernel families by total time: calls, total ms, share.

A family is the kernel's demangled name without its parameter list and nkd's namespaces, so the
functor of a generic launcher stays visible (vec_kernel<4, UnaryFwdVec<Relu, float>>), while
cuDNN's and cuBLAS's kernels keep their own names.

    tools/ncu_summary.py ncu_swin_tiny.csv [--top N]
"""
import argparse
import csv
import io
import re
import sys
from collections import defaultdict

UNIT_TO_MS = {"ns": 1e-6, "nsecond": 1e-6, "us": 1e-3, "usecond": 1e-3, "ms": 1.0, "msecond": 1.0,
              "s": 1e3, "second": 1e3}
NAMESPACES = re.compile(r"\b(?:nkd::)(?:[A-Za-z_]\w*::|\(anonymous namespace\)::)*")


def family(name: str) -> str:
    """The demangled kernel name without 'void ', its parameter list and nkd's namespaces."""
    name = name.strip()
    if name.startswith("void "):
        name = name[5:]
    depth = 0  # cut at the '(' of the parameter list: the first one outside template brackets
    for i, ch in enumerate(name):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "(" and depth == 0 and i > 0:
            name = name[:i]
            break
    return NAMESPACES.sub("", name).replace("(anonymous namespace)::", "").strip()


def read_rows(text: str):
    """(kernel name, milliseconds) per profiled kernel of ncu's CSV (log lines before it skipped)."""
    lines = text.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith('"ID"')), None)
    if start is None:
        return []
    rows = []
    for r in csv.DictReader(io.StringIO("\n".join(lines[start:]))):
        if r.get("Metric Name") != "gpu__time_duration.sum":
            continue
        value = float(r["Metric Value"].replace(",", ""))
        rows.append((r["Kernel Name"], value * UNIT_TO_MS.get(r.get("Metric Unit", "ns").strip(), 1e-6)))
    return rows


def summarize(rows, top: int) -> str:
    total = sum(ms for _, ms in rows)
    groups = defaultdict(lambda: [0, 0.0])
    for name, ms in rows:
        g = groups[family(name)]
        g[0] += 1
        g[1] += ms
    out = [f"{len(rows)} kernels, {total:.3f} ms of GPU time (kernel durations only, no gaps)",
           "| kernel family | calls | total ms | share |", "|---|---|---|---|"]
    ranked = sorted(groups.items(), key=lambda kv: -kv[1][1])
    for name, (calls, ms) in ranked[:top]:
        out.append(f"| {name[:110]} | {calls} | {ms:.3f} | {100 * ms / total if total else 0:.1f}% |")
    rest = ranked[top:]
    if rest:
        ms = sum(v[1] for _, v in rest)
        out.append(f"| ({len(rest)} other families) | {sum(v[0] for _, v in rest)} | {ms:.3f} | "
                   f"{100 * ms / total if total else 0:.1f}% |")
    return "\n".join(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("csv")
    p.add_argument("--top", type=int, default=25)
    a = p.parse_args()
    with open(a.csv, encoding="utf-8", errors="replace") as f:
        rows = read_rows(f.read())
    if not rows:
        print(f"ncu_summary: no gpu__time_duration.sum rows in {a.csv}", file=sys.stderr)
        return 1
    print(summarize(rows, a.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
