#!/usr/bin/env python3
"""PyTorch peer of `nkd_bench distill` (apps/bench/bench_distill.cpp): the distillation step of the
paper's ImageNet recipes on random images, 1000 classes, float32: the student's training step
(forward, CE + the loss, backward, SGD lr 0.01, momentum 0.9, weight decay 1e-4) plus the teacher's
forward in eval mode under torch.no_grad(), and the teacher's forward alone. The nets are
tools/bench_models_torch.py's (torchvision, cls_KD's mobilenet_v1); the losses are the ones the loss
parity test checks nkd against (tests/losses/torch_losses.py: kd, nkd, tf_nkd, uskd). USKD's mid
feature is the global average of a torchvision ResNet's layer3 (USKD students: resnets only).
argv[1] is JSON {"teacher" (or "none"), "student", "loss", "batch", "size", "iters", "warmup",
"threads", "device"}. Runs NCHW and channels_last on the CPU; F32 and channels_last + bf16 autocast
on "cuda" (TF32 off, cudnn.benchmark on, CUDA-event timing). Prints JSON
{"torch", "threads", "results": [{"layout", "step_ms", "teacher_ms", "step_cpu_ms", "teacher_cpu_ms"},
...]} (ms per step; *_cpu_ms: the process's CPU time, on the CPU only)."""
import contextlib
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "losses"))
from bench_models_torch import build  # noqa: E402
import torch_losses  # noqa: E402


def resnet_with_mid(net, x):
    """torchvision ResNet forward returning (logits, GAP of layer3)."""
    y = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    mid = net.layer3(net.layer2(net.layer1(y)))
    out = net.layer4(mid)
    return net.fc(torch.flatten(net.avgpool(out), 1)), torch.flatten(F.adaptive_avg_pool2d(mid, 1), 1)


def per_step_ms(fn, iters, cuda):
    """(wall ms, CPU ms) per call; CPU 0 on a GPU."""
    if cuda:
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            fn()
        stop.record()
        stop.synchronize()
        return start.elapsed_time(stop) / iters, 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t0) * 1e3 / iters, (time.process_time() - c0) * 1e3 / iters


def run(spec, dev, channels_last, amp):
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    student = build(spec["student"]).to(dev).to(memory_format=fmt).train()
    teacher = None
    if spec["teacher"] != "none":
        teacher = build(spec["teacher"]).to(dev).to(memory_format=fmt).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
    params = list(student.parameters())
    loss_name = spec["loss"]
    head = None
    if loss_name == "uskd":
        head = nn.Linear(student.fc.in_features // 2, 1000).to(dev)  # layer3 has half of layer4's channels
        params += list(head.parameters())
    sgd = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(spec["batch"], 3, spec["size"], spec["size"], device=dev).contiguous(memory_format=fmt)
    labels = (torch.arange(spec["batch"]) * 37 % 1000).to(dev)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if amp else contextlib.nullcontext()

    def teacher_forward():
        with torch.no_grad(), autocast:
            return teacher(x).float()

    def step():
        sgd.zero_grad()
        with autocast:
            if loss_name == "uskd":
                logits, mid = resnet_with_mid(student, x)
            else:
                logits = student(x)
            logits = logits.float()
            loss = F.cross_entropy(logits, labels)
            if loss_name == "kd":
                loss = 0.1 * loss + torch_losses.kd(logits, teacher_forward(), 4.0, 0.9)[0]
            elif loss_name == "nkd":
                loss = loss + torch_losses.nkd(logits, teacher_forward(), labels, 1.0, 1.5)[0]
            elif loss_name == "tf_nkd":
                for t in torch_losses.tf_nkd(logits, labels):
                    loss = loss + t
            else:
                loss = loss + torch_losses.uskd(mid.float(), logits, labels, head.weight, head.bias, 1.0, 0.1, 0.005,
                                                False)[0]
        loss.backward()
        sgd.step()

    cuda = dev.type == "cuda"
    for _ in range(spec["warmup"]):
        step()
        if teacher is not None:
            teacher_forward()
    step_ms, step_cpu = per_step_ms(step, spec["iters"], cuda)
    teacher_ms, teacher_cpu = per_step_ms(teacher_forward, spec["iters"], cuda) if teacher is not None else (0.0, 0.0)
    return {"layout": ("channels_last" if channels_last else "nchw") + ("+bf16" if amp else ""),
            "step_ms": step_ms, "teacher_ms": teacher_ms, "step_cpu_ms": step_cpu, "teacher_cpu_ms": teacher_cpu}


def main():
    spec = json.loads(sys.argv[1])
    torch.set_num_threads(spec["threads"])
    dev = torch.device(spec.get("device", "cpu"))
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        variants = [(False, False), (True, True)]
    else:
        variants = [(False, False), (True, False)]
    results = [run(spec, dev, cl, amp) for cl, amp in variants]
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results}))


if __name__ == "__main__":
    main()
