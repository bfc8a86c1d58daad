#!/usr/bin/env python3
"""Each listener's own timeline in one recording, against the signal it played: how late (ms) each
burst sounded, relative to the first, in the recording's clock. Unlike analyse.py (A against B),
this tells *which* listener moved. The recording runs on the sink's clock, which itself may run a
few hundred ppm off CLOCK_MONOTONIC (measured: +267 ppm), so a listener in perfect sync drifts
by that much here; compare the two listeners, or subtract it.

usage: lateness.py RUN_DIR SIGNAL.wav      (RUN_DIR holds kit/rec.wav; SIGNAL is what was played)
"""
import sys

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly
run, ref = sys.argv[1], sys.argv[2]
sr, x = wavfile.read(f"{run}/kit/rec.wav"); x = x.astype(np.float64)
rsr, r = wavfile.read(ref); r = r.astype(np.float64)
if r.ndim > 1: r = r[:, 0]
def onsets(s, rate):
    e = np.abs(s); th = 0.3 * e.max()
    idx = np.flatnonzero(e > th)
    out = []; last = -10**9
    for i in idx:
        if i - last > 0.1 * rate: out.append(i / rate)
        last = i
    return np.array(out)
ro = onsets(r, rsr)
for ch, name in [(0, "A"), (1, "B")]:
    s = x[:, ch]
    if np.abs(s).max() == 0: print(name, "silent"); continue
    o = onsets(s, sr)
    if len(o) < 8: print(name, "few"); continue
    # align: first rec onset vs each ref onset, compare next 6 intervals
    di = np.diff(o[:7]); best = None
    for j in range(len(ro) - 7):
        m = np.abs(np.diff(ro[j:j+7]) - di).max()
        if best is None or m < best[0]: best = (m, j)
    off = o[0] - ro[best[1]]
    res = []
    for t in o:
        j = np.argmin(np.abs(ro - (t - off)))
        d = t - ro[j]
        if abs(d - off) < 0.05: off = d; res.append((t, d))
    base = res[0][1]
    print(name, f"match {best[0]*1e3:.2f}ms", " ".join(f"{(d-base)*1e3:.2f}" for t, d in res[::2]))
