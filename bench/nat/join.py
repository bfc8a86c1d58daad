#!/usr/bin/env python3
"""Joining across NATs, timed: the host at home behind one NAT kind, a listener behind another,
a relay on the bed's wan (tests/net/bed.sh), the invite only. For each run it measures, from the
listener's start: its first `joined` line, its first synced sound (`playing`), when (if ever) its
tunnel went direct, and which path it is on after HOLD seconds.

  bench/nat/join.py [RUNS] [PAIRS...]      # PAIRS: HOSTNAT:LISTENERNAT[:PROFILE], e.g. cone:cone
  bench/nat/join.py 5 restricted:restricted:internet symmetric:restricted:internet

Needs root and the bed (see README); uses the debug build under $CARGO_TARGET_DIR unless
WHATSSOUND_CLI / WHATSSOUND_NETBED say otherwise. Prints one JSON line per run, then a summary.
"""
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BED = os.path.join(HERE, "..", "..", "tests", "net", "bed.sh")
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/whatssound/target"))
CLI = os.environ.get("WHATSSOUND_CLI", os.path.join(TARGET, "debug", "whatssound-cli"))
NETBED = os.environ.get("WHATSSOUND_NETBED", os.path.join(TARGET, "debug", "whatssound-netbed"))
HOLD = float(os.environ.get("HOLD", "20"))


def bed(*args, check=True):
    return subprocess.run(["bash", BED, *args], env={**os.environ, "WHATSSOUND_NETBED": NETBED}, check=check, capture_output=True, text=True)


def spawn(name, role, *args, nice=0):
    # BENCH_LOGS=DIR keeps each process's log (stderr) as DIR/ROLE.log and its events (stdout) as
    # DIR/ROLE.jsonl, each line prefixed with the wall-clock second it was read (`1733300000.123 {...}`)
    # so it lines up with the log's timestamps; WHATSSOUND_LOG sets what is logged (e.g.
    # whatssound_swarm=debug). `nice` below 0 gives the process more of the machine's processor
    # than the rest (root only).
    logs = os.environ.get("BENCH_LOGS")
    err = open(os.path.join(logs, f"{role}.log"), "w") if logs else subprocess.DEVNULL
    out = open(os.path.join(logs, f"{role}.jsonl"), "w") if logs else None
    niced = ["nice", "-n", str(nice)] if nice else []
    p = subprocess.Popen(["ip", "netns", "exec", f"{name}-{role}", *niced, CLI, *args], stdout=subprocess.PIPE, stderr=err, text=True)
    lines = queue.Queue()

    def read():
        for line in p.stdout:
            if out:
                out.write(f"{time.time():.3f} {line}")
                out.flush()
            try:
                lines.put((time.monotonic(), json.loads(line)))
            except ValueError:
                pass

    threading.Thread(target=read, daemon=True).start()
    return p, lines


def stop(name, procs):
    """Ends every process a run started, then the bed."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
    bed("down", name, check=False)


def first(lines, want, wait):
    end = time.monotonic() + wait
    while time.monotonic() < end:
        try:
            at, v = lines.get(timeout=max(0.01, end - time.monotonic()))
        except queue.Empty:
            break
        if want(v):
            return at, v
    return None, None


def run_once(i, host_nat, listener_nat, profile, song):
    name = f"nj{os.getpid() % 10000}x{i}"
    bed("up", name, f"host:lan%{host_nat}", f"a:{profile}%{listener_nat}")
    procs = []
    try:
        relay, rl = spawn(name, "wan", "p2p-relay", "--listen", "10.77.0.1:3340")
        procs.append(relay)
        first(rl, lambda v: v.get("event") == "ready", 10)
        d = tempfile.mkdtemp(prefix="nat-join-")
        host, hl = spawn(name, "host", "host", "--listen", "192.168.0.2:0", "--tunnel", "http://10.77.0.1:3340", "--data-dir", d + "/host", song)
        procs.append(host)
        _, ready = first(hl, lambda v: v.get("event") == "ready", 20)
        invite = ready["invite"]
        t0 = time.monotonic()
        a, al = spawn(name, "a", "listen", invite, "--name", "a", "--output", "null", "--data-dir", d + "/a")
        procs.append(a)
        joined = playing = direct = None
        reach = None
        end = t0 + HOLD
        while time.monotonic() < end:
            at, v = first(al, lambda v: True, end - time.monotonic())
            if v is None:
                break
            e = v.get("event")
            if e == "joined" and joined is None:
                joined = at - t0
            if e == "playing" and playing is None:
                playing = at - t0
            if e == "route":
                reach = v["reach"]
                if reach == "direct" and direct is None:
                    direct = at - t0
        return {"host_nat": host_nat, "listener_nat": listener_nat, "profile": profile, "joined_s": joined, "playing_s": playing, "direct_s": direct, "reach_at_end": reach}
    finally:
        stop(name, procs)


def main():
    args = sys.argv[1:]
    runs = int(args.pop(0)) if args and args[0].isdigit() else 3
    pairs = args or ["cone:cone", "restricted:restricted", "symmetric:restricted", "symmetric:symmetric"]
    song = os.path.join(tempfile.mkdtemp(prefix="nat-song-"), "tone.wav")
    subprocess.run(["python3", "-c", f"""
import struct, math, wave
w = wave.open({song!r}, 'wb'); w.setnchannels(2); w.setsampwidth(2); w.setframerate(48000)
w.writeframes(b''.join(struct.pack('<hh', int(8000*math.sin(i/48000*2*math.pi*440)), 0) for i in range(48000*30)))
"""], check=True)
    results = []
    for pair in pairs:
        parts = pair.split(":")
        host_nat, listener_nat = parts[0], parts[1]
        profile = parts[2] if len(parts) > 2 else "lan"
        for i in range(runs):
            r = run_once(len(results), host_nat, listener_nat, profile, song)
            print(json.dumps(r), flush=True)
            results.append(r)
    print("| host NAT | listener NAT | profile | runs | joined (median s) | first sound (median s) | went direct | direct after (median s) | path at end |")
    print("|---|---|---|---|---|---|---|---|---|")
    def med(xs):
        xs = sorted(x for x in xs if x is not None)
        return f"{xs[len(xs) // 2]:.2f}" if xs else "—"
    for pair in pairs:
        parts = pair.split(":")
        rs = [r for r in results if r["host_nat"] == parts[0] and r["listener_nat"] == parts[1] and r["profile"] == (parts[2] if len(parts) > 2 else "lan")]
        direct = sum(1 for r in rs if r["direct_s"] is not None)
        ends = sorted({str(r["reach_at_end"]) for r in rs})
        print(f"| {parts[0]} | {parts[1]} | {rs[0]['profile']} | {len(rs)} | {med(r['joined_s'] for r in rs)} | {med(r['playing_s'] for r in rs)} | {direct}/{len(rs)} | {med(r['direct_s'] for r in rs)} | {', '.join(ends)} |")


if __name__ == "__main__":
    main()
