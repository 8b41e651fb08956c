#!/usr/bin/env python3
"""PyTorch peer of `nkd_bench gpu-ops` (apps/bench/bench_gpu_ops.cpp): times each op alone on the GPU
with CUDA events, float32 with TF32 off (as nkd's default; "tf32": true turns it on),
cudnn.benchmark on, at the ops given as JSON in argv[1]:
  {"runs": 20, "warmup": 3, "ops": [{"name": ..., "kind": "conv"|"bn"|"relu"|"linear", "n", "c", "h",
   "w", "k", "r", "stride", "pad"}, ...]}
A backward pass is timed after an untimed forward, from a ones cotangent, with only the inputs of that
pass requiring gradients. Prints JSON: {"torch", "threads", "results": [{"name", "pass", "ms"}]}.
"""
import json
import statistics
import sys

import torch
import torch.nn.functional as F


def make(op, dev):
    n, c, h, w, k, r = op["n"], op["c"], op["h"], op["w"], op["k"], op["r"]
    kind = op["kind"]
    if kind == "conv":
        inputs = [torch.randn(n, c, h, w, device=dev), torch.randn(k, c, r, r, device=dev)]
        fn = lambda t: F.conv2d(t[0], t[1], None, op["stride"], op["pad"])
        passes = [("forward", [False, False]), ("backward data", [True, False]),
                  ("backward weight", [False, True])]
    elif kind == "bn":
        mean, var = torch.zeros(c, device=dev), torch.ones(c, device=dev)
        inputs = [torch.randn(n, c, h, w, device=dev), torch.ones(c, device=dev), torch.zeros(c, device=dev)]
        fn = lambda t: F.batch_norm(t[0], mean, var, t[1], t[2], training=True)
        passes = [("forward", [False] * 3), ("backward", [True] * 3)]
    elif kind == "relu":
        inputs = [torch.randn(n, c, h, w, device=dev)]
        fn = lambda t: F.relu(t[0])
        passes = [("forward", [False]), ("backward", [True])]
    else:
        inputs = [torch.randn(n, c, device=dev), torch.randn(k, c, device=dev), torch.randn(k, device=dev)]
        fn = lambda t: F.linear(t[0], t[1], t[2])
        passes = [("forward", [False] * 3), ("backward", [True] * 3)]
    return inputs, fn, passes


def time_pass(inputs, fn, grads, runs, warmup):
    ins = [x.detach().requires_grad_(g) for x, g in zip(inputs, grads)]
    wanted = [x for x in ins if x.requires_grad]
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for i in range(warmup + runs):
        if not wanted:
            with torch.no_grad():
                start.record()
                fn(ins)
                stop.record()
        else:
            y = fn(ins)
            gy = torch.ones_like(y)
            start.record()
            torch.autograd.grad(y, wanted, gy)
            stop.record()
        stop.synchronize()
        if i >= warmup:
            times.append(start.elapsed_time(stop))
    return statistics.median(times)


def main():
    spec = json.loads(sys.argv[1])
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = bool(spec.get("tf32", False))
    torch.backends.cuda.matmul.allow_tf32 = bool(spec.get("tf32", False))
    torch.manual_seed(0)
    dev = torch.device("cuda")
    results = []
    for op in spec["ops"]:
        inputs, fn, passes = make(op, dev)
        for name, grads in passes:
            results.append({"name": op["name"], "pass": name,
                            "ms": time_pass(inputs, fn, grads, spec["runs"], spec["warmup"])})
    json.dump({"torch": torch.__version__ + " on " + torch.cuda.get_device_name(),
               "threads": torch.get_num_threads(), "results": results}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
