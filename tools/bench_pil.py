#!/usr/bin/python3
"""PIL + torchvision peer for the data-pipeline benchmark (docs/PERF.md).

Runs the train pipeline (PIL decode, RandomResizedCrop 224, flip, ToTensor, Normalize) and the
test pipeline (decode, Resize 256, CenterCrop 224, ToTensor, Normalize) over every JPEG under
ROOT, in one process and in a pool of all cores, stacking batches of 32 as a DataLoader would.
Usage: /usr/bin/python3 tools/bench_pil.py ROOT [EPOCHS=2]
"""
import glob
import multiprocessing as mp
import os
import sys
import time

import torch
import torchvision.transforms as T
from PIL import Image

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
PIPES = {
    "train": T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(MEAN, STD)]),
    "test": T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(MEAN, STD)]),
}


def work(args):
    name, paths = args
    torch.set_num_threads(1)
    tf = PIPES[name]
    for i in range(0, len(paths), 32):
        batch = []
        for p in paths[i:i + 32]:
            with Image.open(p) as im:
                batch.append(tf(im.convert("RGB")))
        torch.stack(batch)
    return len(paths)


def run(name, paths, procs):
    chunks = [(name, paths[i::procs]) for i in range(procs)]
    start = time.perf_counter()
    if procs == 1:
        n = work(chunks[0])
    else:
        with mp.Pool(procs) as pool:
            n = sum(pool.map(work, chunks))
    secs = time.perf_counter() - start
    print("pil %-5s threads %d images %d seconds %.3f images/s %.1f per-core %.1f"
          % (name, procs, n, secs, n / secs, n / secs / procs))


def main(root, epochs):
    paths = sorted(glob.glob(os.path.join(root, "**", "*.JPEG"), recursive=True)) * epochs
    work(("train", paths[:16]))  # warm-up
    for name in ("train", "test"):
        for procs in sorted({1, os.cpu_count()}):
            run(name, paths, procs)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2)
