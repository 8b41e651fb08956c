#!/usr/bin/python3
"""Builds an ImageNet-like JPEG set for the data-pipeline benchmark (not committed).

Crops the sample photographs shipped with Debian's python3-skimage at random 4:3 / 3:4 / 3:2
windows, resizes them to ImageNet's typical sizes (500x375, 375x500, 500x333, 333x500) and
re-encodes them with PIL at quality 75-95 into OUT/train/<class>/*.JPEG (10 classes).
Usage: /usr/bin/python3 tools/make_bench_images.py OUT [COUNT=256]
"""
import os
import random
import sys

import skimage
from PIL import Image

SOURCES = ["astronaut.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg", "motorcycle_left.png",
           "motorcycle_right.png", "retina.jpg", "rocket.jpg", "ihc.png"]
SIZES = [(500, 375), (375, 500), (500, 333), (333, 500)]


def main(out, count):
    rng = random.Random(0)
    data = os.path.join(os.path.dirname(skimage.__file__), "data")
    photos = [Image.open(os.path.join(data, s)).convert("RGB") for s in SOURCES]
    for i in range(count):
        src = photos[i % len(photos)]
        w, h = rng.choice(SIZES)
        scale = rng.uniform(0.5, 1.0) * min(src.width / w, src.height / h)
        cw, ch = max(1, int(w * scale)), max(1, int(h * scale))
        x, y = rng.randint(0, src.width - cw), rng.randint(0, src.height - ch)
        img = src.crop((x, y, x + cw, y + ch)).resize((w, h), Image.BICUBIC)
        folder = os.path.join(out, "train", "n%08d" % (i % 10))
        os.makedirs(folder, exist_ok=True)
        img.save(os.path.join(folder, "img_%05d.JPEG" % i), quality=rng.randint(75, 95))
    print("wrote %d images to %s/train" % (count, out))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 256)
