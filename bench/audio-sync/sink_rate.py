#!/usr/bin/env python3
"""The PulseAudio sink's real rate against CLOCK_MONOTONIC: reads its monitor for N seconds and
fits frames received against time. Run it as one side of the kit, beside a player on the other:

  T=$CARGO_TARGET_DIR/release/examples/device_timing   # cargo build --release -p whatssound-audio --example device_timing
  MAX_SECS=25 OUT_DIR=/tmp/rate KEEP=1 ../shared/audio-sync/measure_offset.sh \
      "python3 bench/audio-sync/sink_rate.py 20" "$T 20"

Measured on machine A: the null sink ran +267 ppm, and device_timing's callbacks consumed at the
same rate to 1 ppm.
"""
import subprocess, time, numpy as np, sys
secs = float(sys.argv[1]) if len(sys.argv) > 1 else 20
p = subprocess.Popen(["parec", "--device=sync.monitor", "--raw", "--format=s16le", "--rate=48000", "--channels=2", "--latency-msec=10"], stdout=subprocess.PIPE)
t0 = time.monotonic(); n = 0; ts = []; ns = []
while time.monotonic() - t0 < secs:
    b = p.stdout.read1(65536)
    n += len(b) // 4
    ts.append(time.monotonic() - t0); ns.append(n)
p.terminate()
ts = np.array(ts); ns = np.array(ns)
m = ts > 2
b, a = np.polyfit(ts[m], ns[m], 1)
print(f"sink monitor rate {b:.2f} frames/s = {(b/48000-1)*1e6:.0f} ppm vs CLOCK_MONOTONIC over {ts[-1]:.1f} s")
