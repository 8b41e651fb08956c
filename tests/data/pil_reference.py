#!/usr/bin/python3
"""Reference outputs from PIL + torchvision for the data-pipeline parity test.

Reads a manifest (one case per line) and writes one raw output file per case:
  decode PATH OUT                                  PIL decode, convert('RGB'): uint8 HWC
  exif PATH OUT                                    ImageOps.exif_transpose + convert('RGB'): uint8 HWC
  rrc PATH TOP LEFT H W SIZE INTERP FLIP OUT       F.resized_crop (+ hflip), to_tensor, normalize: f32 CHW
  test PATH RESIZE CROP INTERP OUT                 Resize(RESIZE) + CenterCrop(CROP), normalize: f32 CHW
"""
import sys

import numpy as np
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image, ImageOps

MEAN = [123.675 / 255, 116.28 / 255, 103.53 / 255]
STD = [58.395 / 255, 57.12 / 255, 57.375 / 255]
INTERP = {"bilinear": T.InterpolationMode.BILINEAR, "bicubic": T.InterpolationMode.BICUBIC}


def rgb(path):
    with Image.open(path) as im:
        return im.convert("RGB")


def finish(img, out):
    t = F.normalize(F.to_tensor(img), MEAN, STD)
    t.numpy().astype(np.float32).tofile(out)


def main(manifest):
    for line in open(manifest):
        a = line.split()
        if not a:
            continue
        if a[0] == "decode":
            np.asarray(rgb(a[1]), dtype=np.uint8).tofile(a[2])
        elif a[0] == "exif":
            with Image.open(a[1]) as im:
                np.asarray(ImageOps.exif_transpose(im).convert("RGB"), dtype=np.uint8).tofile(a[2])
        elif a[0] == "rrc":
            top, left, h, w, size = map(int, a[2:7])
            img = F.resized_crop(rgb(a[1]), top, left, h, w, [size, size], INTERP[a[7]])
            if a[8] == "1":
                img = F.hflip(img)
            finish(img, a[9])
        elif a[0] == "test":
            tf = T.Compose([T.Resize(int(a[2]), INTERP[a[4]]), T.CenterCrop(int(a[3]))])
            finish(tf(rgb(a[1])), a[5])
        else:
            raise SystemExit("unknown case " + a[0])


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(sys.argv[1])
