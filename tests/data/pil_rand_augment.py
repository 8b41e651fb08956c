#!/usr/bin/python3
"""PIL references for the RandAugment parity test (the op bodies are timm's auto_augment.py).

Reads a manifest, one case per line:  OP ARG WIDTH HEIGHT CHANNELS IN OUT
IN/OUT are raw uint8 HWC files; ARG is the op's argument as RaOp gets it (translate: a fraction).
"""
import sys

from PIL import Image, ImageEnhance, ImageOps

FILL = (124, 116, 104)


def affine(img, m):
    fill = FILL if img.mode == "RGB" else FILL[0]
    return img.transform(img.size, Image.AFFINE, m, resample=Image.BICUBIC, fillcolor=fill)


def solarize_add(img, add, thresh=128):
    lut = [min(255, i + add) if i < thresh else i for i in range(256)]
    if img.mode == "RGB":
        lut = lut + lut + lut
    return img.point(lut)


OPS = {
    "AutoContrast": lambda im, a: ImageOps.autocontrast(im),
    "Equalize": lambda im, a: ImageOps.equalize(im),
    "Invert": lambda im, a: ImageOps.invert(im),
    "Rotate": lambda im, a: im.rotate(a, resample=Image.BICUBIC,
                                      fillcolor=FILL if im.mode == "RGB" else FILL[0]),
    "Posterize": lambda im, a: im if int(a) >= 8 else ImageOps.posterize(im, int(a)),
    "Solarize": lambda im, a: ImageOps.solarize(im, int(a)),
    "SolarizeAdd": lambda im, a: solarize_add(im, int(a)),
    "Color": lambda im, a: ImageEnhance.Color(im).enhance(a),
    "Contrast": lambda im, a: ImageEnhance.Contrast(im).enhance(a),
    "Brightness": lambda im, a: ImageEnhance.Brightness(im).enhance(a),
    "Sharpness": lambda im, a: ImageEnhance.Sharpness(im).enhance(a),
    "ShearX": lambda im, a: affine(im, (1, a, 0, 0, 1, 0)),
    "ShearY": lambda im, a: affine(im, (1, 0, 0, a, 1, 0)),
    "TranslateX": lambda im, a: affine(im, (1, 0, a * im.size[0], 0, 1, 0)),
    "TranslateY": lambda im, a: affine(im, (1, 0, 0, 0, 1, a * im.size[1])),
}


def main(manifest):
    for line in open(manifest):
        p = line.split()
        if not p:
            continue
        op, arg, w, h, c, src, out = p[0], float(p[1]), int(p[2]), int(p[3]), int(p[4]), p[5], p[6]
        with open(src, "rb") as f:
            im = Image.frombytes("RGB" if c == 3 else "L", (w, h), f.read())
        res = OPS[op](im, arg)
        with open(out, "wb") as f:
            f.write(res.tobytes())


if __name__ == "__main__":
    main(sys.argv[1])
