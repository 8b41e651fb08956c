#!/usr/bin/env python3
"""PyTorch peer of `nkd_bench demo` (apps/bench/bench_demo.cpp): the Fashion-MNIST demo steps (the net
of tools/torch_fashion_mnist_reference.py, batch 128, 1x28x28, SGD 0.1/0.9/5e-4) on random input:
teacher x0.25 CE, student x0.125 CE, student CE + KD (T 4, alpha 0.9) on the eval-mode teacher.
argv[1] is JSON {"iters", "threads", "warmup"}; prints JSON with the seconds for `iters` steps of
each, in NCHW ("nchw") and channels_last ("channels_last"), wall-clock, and the process's CPU seconds
(all threads) in "nchw_cpu" and "channels_last_cpu"."""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, i, o, st):
        super().__init__()
        self.c1 = nn.Conv2d(i, o, 3, st, 1, bias=False)
        self.b1 = nn.BatchNorm2d(o)
        self.c2 = nn.Conv2d(o, o, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(o)
        self.d = None if st == 1 and i == o else nn.Sequential(nn.Conv2d(i, o, 1, st, bias=False), nn.BatchNorm2d(o))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (x if self.d is None else self.d(x)))


class Net(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.c = nn.Conv2d(1, w, 3, 1, 1, bias=False)
        self.b = nn.BatchNorm2d(w)
        layers, i = [], w
        for k, st in zip([w, 2 * w, 4 * w, 8 * w], [1, 2, 2, 2]):
            layers += [Block(i, k, st), Block(k, k, 1)]
            i = k
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(i, 10)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.layers(F.relu(self.b(self.c(x)))), 1).flatten(1))


def time_step(step, layout, iters, warmup):
    torch.manual_seed(0)
    net = Net(16 if step == 0 else 8).to(memory_format=layout)
    teacher = Net(16).to(memory_format=layout).eval()
    opt = torch.optim.SGD(net.parameters(), 0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(128, 1, 28, 28).contiguous(memory_format=layout)
    y = torch.arange(128) * 7 % 10

    def one():
        logits = net(x)
        loss = F.cross_entropy(logits, y)
        if step == 2:
            with torch.no_grad():
                t = teacher(x)
            kd = -(F.softmax(t / 4, 1) * F.log_softmax(logits / 4, 1)).sum(1).mean() * 0.9 * 16
            loss = 0.1 * loss + kd
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(warmup):
        one()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(iters):
        one()
    return time.perf_counter() - t0, time.process_time() - c0


def main():
    spec = json.loads(sys.argv[1])
    torch.set_num_threads(spec["threads"])
    out = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    for name, layout in [("nchw", torch.contiguous_format), ("channels_last", torch.channels_last)]:
        t = [time_step(s, layout, spec["iters"], spec["warmup"]) for s in range(3)]
        out[name] = [wall for wall, _ in t]
        out[name + "_cpu"] = [cpu for _, cpu in t]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
