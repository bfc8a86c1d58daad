#!/usr/bin/env python3
"""Summarises bench/audio-sync/run.sh results: per format and scenario, the offset in the first
second after the join/seek/change (convergence) and after it (steady), as median and p99 of |t(B) − t(A)|.

usage: summary.py RESULTS.jsonl
"""
import json
import sys
from collections import defaultdict

import numpy as np

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
groups = defaultdict(lambda: {"first": [], "steady": [], "runs": 0, "first_sound": [], "lost": 0})
for r in rows:
    g = groups[(r["format"], r["scenario"])]
    g["runs"] += 1
    w = r["windows"]
    if not w:
        g["lost"] += 1
        continue
    if r["first_sound_ms"] is not None:
        g["first_sound"].append(r["first_sound_ms"])
    t0 = r["event_s"] if r["scenario"] != "join" else w[0][0]
    if t0 is None:
        g["lost"] += 1
        continue
    for t, off in w:
        if t < t0 - 0.01:
            continue
        (g["first"] if t < t0 + 1.0 else g["steady"]).append(abs(off))

def stat(xs):
    if not xs:
        return "—"
    a = np.array(xs)
    return f"{np.median(a):.3f} / {np.percentile(a, 99):.3f}"

print("| format | scenario | runs | first second: median / p99 ms | after: median / p99 ms | max ms | time to first sound (median) |")
print("|---|---|---|---|---|---|---|")
for (fmt, sc), g in sorted(groups.items()):
    allw = g["first"] + g["steady"]
    fs = f"{np.median(g['first_sound']):.0f} ms" if g["first_sound"] else "—"
    mx = f"{max(allw):.3f}" if allw else "—"
    lost = f" ({g['lost']} unmeasured)" if g["lost"] else ""
    print(f"| {fmt} | {sc} | {g['runs']}{lost} | {stat(g['first'])} | {stat(g['steady'])} | {mx} | {fs} |")
