#!/usr/bin/env python3
"""A listener on a thin link, timed: the host on the bed's wan playing a FLAC, one listener at
home behind a link capped by tbf (tests/net/bed.sh `PROFILE@RATE`), with each `--quality`. For each
run it reports, from the listener's start: when it changed to Opus (`quality`), when its first
synced sound came (`playing`, each deck's), and over the last 10 s of HOLD the sync lines'
median |error|, the median |clock offset| (host and listener share one clock here, so that is
the estimate's error against the truth) and the underruns of the deck playing then.

  bench/nat/thin.py [RUNS] [RATE] [PROFILE] [QUALITIES...]
  bench/nat/thin.py 3 600kbit internet auto opus original
  JOIN_AT=120 bench/nat/thin.py 2 600kbit internet auto opus   # join 2 minutes into the track

The FLAC is made here (SONG=path to use another): 4 minutes of chords and noise, ~1 Mbit/s. Needs
root, the bed, and flac; uses WHATSSOUND_CLI / WHATSSOUND_NETBED as bench/nat/join.py does.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from join import CLI, bed, first, spawn, stop  # noqa: E402

HOLD = float(os.environ.get("HOLD", "40"))
# The host seeks here (seconds) before the listener joins: a listener joining mid-track.
JOIN_AT = float(os.environ.get("JOIN_AT", "0"))


def make_song():
    d = tempfile.mkdtemp(prefix="thin-song-")
    wav, flac = os.path.join(d, "song.wav"), os.path.join(d, "song.flac")
    subprocess.run(["python3", "-c", f"""
import numpy as np, wave
sr, secs = 44100, 240
t = np.arange(sr * secs) / sr
rng = np.random.default_rng(1)
freqs = [220, 277, 330, 392, 440, 523, 587, 659]
sig = np.zeros((len(t), 2))
for k in range(secs // 2):
    a, b = k * 2 * sr, (k + 1) * 2 * sr
    seg = sum(np.sin(2 * np.pi * f * t[a:b]) for f in rng.choice(freqs, 3)) / 3
    env = np.exp(-np.linspace(0, 3, b - a))
    sig[a:b, 0] = seg * env * 0.5
    sig[a:b, 1] = np.roll(seg, 37)[:b - a] * env * 0.5
sig += rng.normal(0, 0.02, sig.shape)
w = wave.open({wav!r}, 'wb'); w.setnchannels(2); w.setsampwidth(2); w.setframerate(sr)
w.writeframes((np.clip(sig, -1, 1) * 32767).astype('<i2').tobytes()); w.close()
"""], check=True)
    subprocess.run(["flac", "-s", "-f", "-o", flac, wav], check=True)
    return flac


def run_once(i, rate, profile, quality, song):
    name = f"nt{os.getpid() % 10000}x{i}"
    bed("up", name, f"a:{profile}@{rate}")
    procs = []
    try:
        d = tempfile.mkdtemp(prefix="thin-")
        host, hl = spawn(name, "host", "host", "--listen", "10.77.0.2:0", "--data-dir", d + "/host", song)
        procs.append(host)
        _, ready = first(hl, lambda v: v.get("event") == "ready", 20)
        if JOIN_AT:
            subprocess.run(["ip", "netns", "exec", f"{name}-host", CLI, "send", ready["host_invite"], "--data-dir", d + "/admin",
                            "seek", str(int(JOIN_AT * 1000))], check=True, capture_output=True)
        t0 = time.monotonic()
        a, al = spawn(name, "a", "listen", ready["invite"], "--name", "a", "--output", "null", "--quality", quality, "--data-dir", d + "/a")
        procs.append(a)
        changed, playing, syncs = None, [], []
        end = t0 + HOLD
        while time.monotonic() < end:
            at, v = first(al, lambda v: True, end - time.monotonic())
            if v is None:
                break
            e = v.get("event")
            if e == "quality":
                changed = (at - t0, v.get("link_kbps"), v.get("needed_kbps"))
            elif e == "playing":
                playing.append(round(at - t0, 2))
            elif e == "sync" and at - t0 >= HOLD - 10 and isinstance(v.get("error_ms"), (int, float)):
                syncs.append(v)
        errors = [abs(s["error_ms"]) for s in syncs]
        # Host and listener read one CLOCK_MONOTONIC here, so the estimated offset is its own error.
        offsets = [abs(s["clock_offset_ms"]) for s in syncs if isinstance(s.get("clock_offset_ms"), (int, float))]
        return {
            "quality": quality, "rate": rate, "profile": profile, "join_at_s": JOIN_AT,
            "changed_s": round(changed[0], 2) if changed else None,
            "link_kbps": changed[1] if changed else None, "needed_kbps": changed[2] if changed else None,
            "playing_s": playing,
            "error_ms_median_last_10s": round(statistics.median(errors), 3) if errors else None,
            "clock_error_ms_median_last_10s": round(statistics.median(offsets), 3) if offsets else None,
            "underruns_at_end": syncs[-1]["underruns"] if syncs else None,
        }
    finally:
        stop(name, procs)


def main():
    args = sys.argv[1:]
    runs = int(args.pop(0)) if args and args[0].isdigit() else 3
    rate = args.pop(0) if args else "600kbit"
    profile = args.pop(0) if args else "internet"
    qualities = args or ["auto", "opus", "original"]
    song = os.environ.get("SONG") or make_song()
    print(f"# {song}: {os.path.getsize(song)} bytes", flush=True)
    results = []
    for quality in qualities:
        for i in range(runs):
            r = run_once(len(results), rate, profile, quality, song)
            print(json.dumps(r), flush=True)
            results.append(r)


if __name__ == "__main__":
    main()
