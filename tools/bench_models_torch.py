#!/usr/bin/env python3
"""PyTorch peer of `nkd_bench model` (apps/bench/bench_models.cpp): times a training step (forward,
cross entropy, backward, SGD with momentum 0.9 and weight decay 1e-4) and an inference forward (eval,
no grad) of the torchvision models, float32, at the settings given as JSON in argv[1]:
  {"nets": ["resnet18", ...], "batch": 16, "size": 224, "threads": 2, "runs": 5, "warmup": 1,
   "device": "cpu"|"cuda"}
On "cuda": CUDA-event timing, TF32 off (unless "tf32": true), cudnn.benchmark on, the peak memory
of the training step ("peak_mib"), and a second run in channels_last + bf16 autocast
("amp_train_ms", "amp_infer_ms", "amp_peak_mib"); with "amp_only": true (nkd_bench --precision bf16)
only that second run. On "cpu": wall and process CPU time (all threads; "cpu_train_ms", ...), NCHW and
a second run in channels_last, F32 ("cl_train_ms", "cl_infer_ms", "cl_cpu_train_ms", "cl_cpu_infer_ms").
mobilenet_v1 is cls_KD's definition (NKD_SPEC.md section 6); mobilenet_v2 without its dropout (as
mmcls). Prints JSON: {"torch": ..., "threads": ..., "results": [{"name", "train_ms", "infer_ms", ...}]}.
"""
import contextlib
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.models as tvm


def conv_dw(inp, oup, stride):
    return nn.Sequential(nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False), nn.BatchNorm2d(inp),
                         nn.ReLU(inplace=True), nn.Conv2d(inp, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup),
                         nn.ReLU(inplace=True))


def mobilenet_v1():
    layers = [nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True)]
    for inp, oup, s in [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2)] + \
            [(512, 512, 1)] * 5 + [(512, 1024, 2), (1024, 1024, 1)]:
        layers.append(conv_dw(inp, oup, s))
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1024, 1000))


def build(name):
    if name == "mobilenet_v1":
        return mobilenet_v1()
    if name == "mobilenet_v2":
        model = tvm.mobilenet_v2()
        model.classifier[0] = nn.Identity()
        return model
    if name == "swin_tiny":  # torchvision's swin_t (>= 0.13) without drop path, as nkd_bench's swin_tiny
        return tvm.SwinTransformer(patch_size=[4, 4], embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24],
                                   window_size=[7, 7], stochastic_depth_prob=0.0)
    return {"resnet18": tvm.resnet18, "resnet34": tvm.resnet34, "resnet50": tvm.resnet50,
            "shufflenet_v2": tvm.shufflenet_v2_x1_0}[name]()


def median_ms(fn, runs, warmup, cuda):
    """Median wall (CUDA-event on a GPU) and process CPU milliseconds of fn() over runs calls."""
    for _ in range(warmup):
        fn()
    times, cpu = [], []
    for _ in range(runs):
        c0 = time.process_time()
        if cuda:
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            times.append(start.elapsed_time(stop))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return statistics.median(times), statistics.median(cpu)


def run(name, spec, dev, channels_last, amp):
    model = build(name).to(dev)
    x = torch.randn(spec["batch"], 3, spec["size"], spec["size"], device=dev)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    labels = (torch.arange(spec["batch"]) * 37 % 1000).to(dev)
    sgd = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    cuda = dev.type == "cuda"
    # A CPU-only torch refuses even a disabled CUDA autocast: no context at all without AMP.
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if amp else contextlib.nullcontext()

    def train_step():
        sgd.zero_grad()
        with autocast:
            loss = F.cross_entropy(model(x), labels)
        loss.backward()
        sgd.step()

    def infer():
        with autocast:
            model(x)

    model.train()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    train = median_ms(train_step, spec["runs"], spec["warmup"], cuda)
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else 0.0
    model.eval()
    with torch.no_grad():
        inference = median_ms(infer, spec["runs"], spec["warmup"], cuda)
    del model, sgd
    if cuda:
        torch.cuda.empty_cache()
    return train, inference, peak


def bench(name, spec):
    dev = torch.device(spec.get("device", "cpu"))
    result = {"name": name}
    if not (dev.type == "cuda" and spec.get("amp_only", False)):
        (train, cpu_train), (infer, cpu_infer), peak = run(name, spec, dev, False, False)
        result.update(train_ms=train, infer_ms=infer)
        if dev.type == "cuda":
            result.update(peak_mib=peak)
        else:
            result.update(cpu_train_ms=cpu_train, cpu_infer_ms=cpu_infer)
    if dev.type == "cuda":
        (amp_train, _), (amp_infer, _), amp_peak = run(name, spec, dev, True, True)
        result.update(amp_train_ms=amp_train, amp_infer_ms=amp_infer, amp_peak_mib=amp_peak)
    else:
        (train, cpu_train), (infer, cpu_infer), _ = run(name, spec, dev, True, False)
        result.update(cl_train_ms=train, cl_infer_ms=infer, cl_cpu_train_ms=cpu_train, cl_cpu_infer_ms=cpu_infer)
    return result


def main():
    spec = json.loads(sys.argv[1])
    torch.set_num_threads(spec["threads"])
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = bool(spec.get("tf32", False))
    torch.backends.cuda.matmul.allow_tf32 = bool(spec.get("tf32", False))
    torch.manual_seed(0)
    results = []
    for name in spec["nets"]:
        print("torch:", name, file=sys.stderr, flush=True)
        try:
            results.append(bench(name, spec))
        except Exception as e:  # one net that fails (e.g. an old torchvision) must not lose the others
            print(f"torch: {name} failed: {e!r}", file=sys.stderr, flush=True)
    on = " on " + torch.cuda.get_device_name() if spec.get("device") == "cuda" else ""
    json.dump({"torch": torch.__version__ + on, "threads": torch.get_num_threads(), "results": results}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
