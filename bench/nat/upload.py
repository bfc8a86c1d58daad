#!/usr/bin/env python3
"""What the host's uplink carries for one track: the host at home behind a NAT, N listeners each
in a home of their own, all joined through the tunnel (a relay on the wan); bytes out of the host
router's outside interface from before the first join until every listener has the whole track
(its `buffering` line, printed when a download completes), against the track's size.

  bench/nat/upload.py [LISTENERS] [HOSTNAT:LISTENERNAT] [SECONDS_OF_AUDIO]
  bench/nat/upload.py 8 restricted:restricted 30

Prints one JSON line. Needs root and the bed (see README).
"""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from join import bed, first, spawn, stop  # noqa: E402


def tx_bytes(ns, dev):
    out = subprocess.run(["ip", "-n", ns, "-j", "-s", "link", "show", dev], capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]["stats64"]["tx"]["bytes"]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    host_nat, listener_nat = (sys.argv[2] if len(sys.argv) > 2 else "restricted:restricted").split(":")
    seconds = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    d = tempfile.mkdtemp(prefix="nat-upload-")
    song = os.path.join(d, "tone.wav")
    subprocess.run(["python3", "-c", f"""
import struct, math, random, wave
w = wave.open({song!r}, 'wb'); w.setnchannels(2); w.setsampwidth(2); w.setframerate(44100)
r = random.Random(1)
w.writeframes(b''.join(struct.pack('<hh', r.randint(-8000, 8000), r.randint(-8000, 8000)) for i in range(44100*{seconds})))
"""], check=True)
    size = os.path.getsize(song)
    name = f"nu{os.getpid() % 10000}"
    homes = [f"host:lan%{host_nat}"] + [f"l{i}:lan%{listener_nat}" for i in range(n)]
    bed("up", name, *homes)
    procs = []
    try:
        relay, rl = spawn(name, "wan", "p2p-relay", "--listen", "10.77.0.1:3340")
        procs.append(relay)
        first(rl, lambda v: v.get("event") == "ready", 10)
        host, hl = spawn(name, "host", "host", "--listen", "192.168.0.2:0", "--tunnel", "http://10.77.0.1:3340", "--data-dir", d + "/host", song)
        procs.append(host)
        _, ready = first(hl, lambda v: v.get("event") == "ready", 20)
        before = tx_bytes(f"{name}-rhost", "wan")
        t0 = time.monotonic()
        listeners = []
        for i in range(n):
            p, lines = spawn(name, f"l{i}", "listen", ready["invite"], "--name", f"l{i}", "--output", "null", "--data-dir", f"{d}/l{i}")
            procs.append(p)
            listeners.append(lines)
        done = 0
        for lines in listeners:
            at, v = first(lines, lambda v: v.get("event") == "buffering" and v.get("bytes") == v.get("total"), 180)
            done += v is not None
        after = tx_bytes(f"{name}-rhost", "wan")
        up = after - before
        print(json.dumps({"listeners": n, "host_nat": host_nat, "listener_nat": listener_nat, "track_bytes": size, "all_ready": done == n,
                          "ready_s": round(time.monotonic() - t0, 2), "host_upload_bytes": up,
                          "upload_per_listener": round(up / n / size, 3), "upload_over_track": round(up / size, 2)}))
    finally:
        stop(name, procs)


if __name__ == "__main__":
    main()
