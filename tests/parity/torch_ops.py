#!/usr/bin/python3
"""PyTorch side of the op parity test (tests/parity/test_parity_ops.cpp).

Reads <dir>/cases.json written by the C++ test. For each case it loads the inputs (raw
little-endian float64 / int64 files), evaluates the case's PyTorch expression over x0, x1, ...,
back-propagates the given cotangents, and writes the outputs and input gradients back as raw
float64 files, plus <dir>/results.json with per-case status. float64 throughout.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F


def load(path, dtype, shape):
    a = np.fromfile(path, dtype=np.float64 if dtype == "F64" else np.int64)
    return torch.from_numpy(a.reshape(shape).copy())


def save(path, t):
    t.detach().to(torch.float64).contiguous().numpy().tofile(path)


def run_case(d, case):
    env = {"torch": torch, "F": F, "math": __import__("math")}
    inputs = []
    for i, inp in enumerate(case["inputs"]):
        t = load(os.path.join(d, inp["file"]), inp["dtype"], inp["shape"])
        if inp["requires_grad"]:
            t.requires_grad_(True)
        env["x%d" % i] = t
        inputs.append(t)
    out = eval(case["torch"], env)  # the expression comes from the project's own test table
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    roots, grads, files = [], [], []
    for k, o in enumerate(outs):
        f = "%s.out%d.bin" % (case["id"], k)
        save(os.path.join(d, f), o)
        files.append({"file": f, "shape": list(o.shape)})
        cot = case["cotangents"][k]
        if cot is not None and o.requires_grad:
            roots.append(o)
            grads.append(load(os.path.join(d, cot["file"]), "F64", cot["shape"]))
    if roots:
        torch.autograd.backward(roots, grads)
    gfiles = []
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            gfiles.append(None)
            continue
        g = t.grad if t.grad is not None else torch.zeros_like(t)
        f = "%s.grad%d.bin" % (case["id"], i)
        save(os.path.join(d, f), g)
        gfiles.append({"file": f, "shape": list(g.shape)})
    return {"outputs": files, "grads": gfiles}


def main():
    d = sys.argv[1]
    torch.set_num_threads(2)
    with open(os.path.join(d, "cases.json")) as fh:
        cases = json.load(fh)
    results = {}
    for case in cases:
        try:
            results[case["id"]] = run_case(d, case)
        except Exception as e:  # reported per case by the C++ side
            results[case["id"]] = {"error": "%s: %s" % (type(e).__name__, e)}
    with open(os.path.join(d, "results.json"), "w") as fh:
        json.dump(results, fh)


if __name__ == "__main__":
    main()
