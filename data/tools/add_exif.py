#!/usr/bin/python3
"""Copies an ImageNet-layout JPEG folder, inserting an EXIF APP1 segment with orientation tags
cycling 1..8 (file i gets 1 + i % 8) right after SOI; the compressed data is untouched. For the
crop + EXIF decoding benchmark (docs/PERF.md); the output is not committed.
Usage: /usr/bin/python3 data/tools/add_exif.py SRC DST   (SRC/train/<class>/*.JPEG -> DST/train/...)
"""
import os
import struct
import sys


def app1(orientation):
    # Little-endian TIFF: header, one IFD with one SHORT entry (0x0112), no next IFD.
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
    tiff += struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    body = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def main(src, dst):
    i = 0
    for root, _, files in sorted(os.walk(src)):
        for name in sorted(files):
            data = open(os.path.join(root, name), "rb").read()
            if data[:2] != b"\xff\xd8":
                continue
            out_dir = os.path.join(dst, os.path.relpath(root, src))
            os.makedirs(out_dir, exist_ok=True)
            with open(os.path.join(out_dir, name), "wb") as f:
                f.write(data[:2] + app1(1 + i % 8) + data[2:])
            i += 1
    print("add_exif: %d files" % i)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
