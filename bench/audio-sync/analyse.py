#!/usr/bin/env python3
"""Per-window offsets of one measure_offset.sh recording, with each window's time.

usage: analyse.py REC.wav KIT_DIR [--win-s 0.5]
Prints one JSON object: {"windows": [[start_s, offset_ms], ...]} — windows where both channels
carry a clear, unambiguous correlation (the kit's own xcorr_lag and thresholds).
"""
import json
import sys

import numpy as np
from scipy.io import wavfile

rec, kit = sys.argv[1], sys.argv[2]
win_s = float(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--win-s" else 0.5
sys.path.insert(0, kit)
from xcorr import xcorr_lag  # noqa: E402

sr, x = wavfile.read(rec)
x = x.astype(np.float64)
L, R = x[:, 0] - x[:, 0].mean(), x[:, 1] - x[:, 1].mean()
peak_l, peak_r = np.abs(L).max(), np.abs(R).max()
max_lag = int(0.2 * sr)
w = int(win_s * sr)
out = []
for s0 in range(0, len(L) - w + 1, w):
    l = L[s0:s0 + w]
    r0, r1 = max(0, s0 - max_lag), min(len(R), s0 + w + max_lag)
    r = R[r0:r1]
    if peak_l == 0 or peak_r == 0 or np.abs(l).max() < 0.05 * peak_l or np.abs(r).max() < 0.05 * peak_r:
        continue
    lp = np.zeros(len(r))
    lp[s0 - r0:s0 - r0 + w] = l
    k, norm, ratio = xcorr_lag(lp, r, max_lag)
    if norm > 0.3 and ratio < 0.8:
        out.append([s0 / sr, k / sr * 1e3])
print(json.dumps({"windows": out}))
