#!/usr/bin/env python3
"""Draws the app's icons (icons/*.png, RGBA): a rounded square with a dot and three sound waves.
Made here with the standard library only, so the repository carries no binary it cannot remake."""
import math
import pathlib
import struct
import zlib

OUT = pathlib.Path(__file__).resolve().parent.parent / "icons"


def png(path, n):
    rows = []
    r = n * 0.22
    for y in range(n):
        row = bytearray([0])
        for x in range(n):
            dx = max(r - x, 0, x - (n - 1 - r))
            dy = max(r - y, 0, y - (n - 1 - r))
            if dx * dx + dy * dy > r * r:
                row += bytes([0, 0, 0, 0])
                continue
            t = (x + y) / (2 * n)
            col = (int(20 + 40 * t), int(150 - 70 * t), int(140 + 80 * t))
            cx, cy = n * 0.38, n * 0.5
            d = math.hypot(x - cx, y - cy) / n
            ang = math.atan2(y - cy, x - cx)
            if d < 0.09 or any(abs(d - ring) < 0.035 and abs(ang) < 0.9 for ring in (0.2, 0.31, 0.42)):
                col = (250, 250, 250)
            row += bytes([col[0], col[1], col[2], 255])
        rows.append(bytes(row))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", n, n, 8, 6, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b""))


OUT.mkdir(exist_ok=True)
for name, size in [("32x32.png", 32), ("128x128.png", 128), ("128x128@2x.png", 256), ("icon.png", 512)]:
    png(OUT / name, size)
