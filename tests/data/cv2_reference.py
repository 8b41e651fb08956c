#!/usr/bin/python3
"""Reference outputs from OpenCV (python3-opencv) for the cv2-backend parity test.

Reads a manifest (one case per line) and writes one raw uint8 output file per case. The image
cases reproduce what mmcls 0.x does with backend 'cv2': LoadImageFromFile = cv2.imdecode(...,
IMREAD_COLOR) (BGR, EXIF orientation applied), RandomResizedCrop = integer crop + cv2.resize
INTER_LINEAR, Resize(size=(256, -1)) + CenterCrop; outputs are converted to RGB.
  resize RAW W H C DW DH OUT          cv2.resize of a raw uint8 HWC image: uint8 HWC
  decode PATH OUT                     cv2.imdecode(IMREAD_COLOR), BGR -> RGB: uint8 HWC
  rrc PATH X Y W H SIZE FLIP OUT      decode, img[y:y+h, x:x+w], resize to SIZE x SIZE, flip: RGB
  test PATH RESIZE CROP OUT           decode, mmcls short-side Resize, mmcls CenterCrop: RGB
"""
import sys

import cv2
import numpy as np


def decode(path):
    img = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit("cv2 cannot decode " + path)
    return img


def rgb_out(img, out):
    np.ascontiguousarray(img[:, :, ::-1]).tofile(out)


def short_side(img, short):
    # mmcls 0.x Resize(size=(short, -1)): the short side becomes `short`, long = int(short * long / short_side).
    h, w = img.shape[:2]
    if (w <= h and w == short) or (h <= w and h == short):
        return img
    if w < h:
        size = (short, int(short * h / w))
    else:
        size = (int(short * w / h), short)
    return cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)


def center_crop(img, crop):
    # mmcls 0.x CenterCrop: offsets int(round((H - crop) / 2)) with Python's round.
    h, w = img.shape[:2]
    y1 = max(0, int(round((h - crop) / 2.0)))
    x1 = max(0, int(round((w - crop) / 2.0)))
    return img[y1:min(h, y1 + crop), x1:min(w, x1 + crop)]


def main(manifest):
    for line in open(manifest):
        a = line.split()
        if not a:
            continue
        if a[0] == "resize":
            w, h, c, dw, dh = map(int, a[2:7])
            img = np.fromfile(a[1], dtype=np.uint8).reshape(h, w, c)
            if c == 1:
                img = img[:, :, 0]
            out = cv2.resize(img, (dw, dh), interpolation=cv2.INTER_LINEAR)
            np.ascontiguousarray(out).tofile(a[7])
        elif a[0] == "decode":
            rgb_out(decode(a[1]), a[2])
        elif a[0] == "rrc":
            x, y, w, h, size = map(int, a[2:7])
            img = decode(a[1])[y:y + h, x:x + w]
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)
            if a[7] == "1":
                img = img[:, ::-1]
            rgb_out(img, a[8])
        elif a[0] == "test":
            rgb_out(center_crop(short_side(decode(a[1]), int(a[2])), int(a[3])), a[4])
        else:
            raise SystemExit("unknown case " + a[0])


if __name__ == "__main__":
    cv2.setNumThreads(1)
    main(sys.argv[1])
