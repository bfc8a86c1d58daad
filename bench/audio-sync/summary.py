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
groups = defaultdict(lambda: {"first": [], "steady": [], "runs": 0, "first_sound": [], "lost": 0, "jumps": 0, "underruns": 0, "unc": [], "clock_med": [], "clock_max": []})
for r in rows:
    g = groups[(r.get("net", "loopback"), r["format"], r["scenario"])]
    g["runs"] += 1
    g["jumps"] += r.get("jumps_after_1s") or 0
    g["underruns"] += r.get("underruns") or 0
    g["unc"] += [u for u in (r.get("uncertainty_ms") or {}).values() if u is not None]
    for e in (r.get("clock_error_ms") or {}).values():
        if e:
            g["clock_med"].append(e[0])
            g["clock_max"].append(e[1])
    w = r["windows"]
    if not w:
        g["lost"] += 1
        continue
    if r["first_sound_ms"] is not None:
        g["first_sound"].append(r["first_sound_ms"])
    t0 = r["event_s"] if r["scenario"] not in ("join", "late") else w[0][0]
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

print("| net | format | scenario | runs | first second: median / p99 ms | after: median / p99 ms | max ms | max after 1 s | jumps after 1 s | underruns | uncertainty (median) | clock error vs truth: median / max ms | time to first sound (median) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for (net, fmt, sc), g in sorted(groups.items()):
    allw = g["first"] + g["steady"]
    fs = f"{np.median(g['first_sound']):.0f} ms" if g["first_sound"] else "—"
    mx = f"{max(allw):.3f}" if allw else "—"
    mx1 = f"{max(g['steady']):.3f}" if g["steady"] else "—"
    unc = f"±{np.median(g['unc']):.2f} ms" if g["unc"] else "—"
    clk = f"{np.median(g['clock_med']):.3f} / {max(g['clock_max']):.3f}" if g["clock_med"] else "—"
    lost = f" ({g['lost']} unmeasured)" if g["lost"] else ""
    print(f"| {net} | {fmt} | {sc} | {g['runs']}{lost} | {stat(g['first'])} | {stat(g['steady'])} | {mx} | {mx1} | {g['jumps']} | {g['underruns']} | {unc} | {clk} | {fs} |")
