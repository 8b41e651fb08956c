#!/usr/bin/python3
"""PyTorch peer of `nkd_bench conv` (apps/bench/main.cpp): times F.conv2d forward and backward on
the CPU (torch.set_num_threads(threads), default 2), float32, at the shapes given as JSON in argv[1]:
  {"runs": 7, "warmup": 2, "threads": 2, "shapes": [{"name": ..., "n": 8, "c": 64, "h": 56, "w": 56, "k": 64,
   "r": 3, "s": 3, "stride": 1, "pad": 1, "groups": 1}, ...]}
Prints JSON on stdout: {"torch": "<version>", "threads": 2, "results": [{"name": ..., "fwd_ms": ...,
"bwd_ms": ..., "bwd_data_ms": ..., "bwd_weight_ms": ...}]}, median milliseconds per pass.
"""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def median_ms(fn, runs, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def time_backward(sh, need_x, need_w, runs, warmup):
    """Median time of the backward pass alone (the forward of each run is not timed)."""
    x = torch.randn(sh["n"], sh["c"], sh["h"], sh["w"], requires_grad=need_x)
    w = torch.randn(sh["k"], sh["c"] // sh["groups"], sh["r"], sh["s"], requires_grad=need_w)
    wanted = [t for t in (x, w) if t.requires_grad]
    times = []
    for i in range(warmup + runs):
        y = F.conv2d(x, w, None, sh["stride"], sh["pad"], 1, sh["groups"])
        gy = torch.ones_like(y)
        t0 = time.perf_counter()
        torch.autograd.grad(y, wanted, gy)
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def bench(sh, runs, warmup):
    x = torch.randn(sh["n"], sh["c"], sh["h"], sh["w"])
    w = torch.randn(sh["k"], sh["c"] // sh["groups"], sh["r"], sh["s"])
    with torch.no_grad():
        fwd = median_ms(lambda: F.conv2d(x, w, None, sh["stride"], sh["pad"], 1, sh["groups"]),
                        runs, warmup)
    return {
        "name": sh["name"],
        "fwd_ms": fwd,
        "bwd_ms": time_backward(sh, True, True, runs, warmup),
        "bwd_data_ms": time_backward(sh, True, False, runs, warmup),
        "bwd_weight_ms": time_backward(sh, False, True, runs, warmup),
    }


def main():
    spec = json.loads(sys.argv[1])
    torch.set_num_threads(spec.get("threads", 2))
    torch.manual_seed(0)
    results = [bench(sh, spec["runs"], spec["warmup"]) for sh in spec["shapes"]]
    json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results},
              sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
