#!/usr/bin/env python3
"""What the host's uplink carries for one track: the host at home behind a NAT (its link capped at
RATE), N listeners each in a home of their own, all joined through the tunnel (a relay on the
wan); bytes out of the host router's outside interface from before the first join until every
listener has the whole track (its `buffering` line with every byte), against the track's size.
Then every listener plays on for PLAY seconds, and its `underruns` (the output found its ring
empty) are read from its last `sync` line. Listeners pass the track on to each other (crates/swarm).

  bench/nat/upload.py [LISTENERS] [HOSTNAT:LISTENERNAT] [SECONDS_OF_AUDIO] [RATE] [wav|flac] [PLAY]
  bench/nat/upload.py 30 restricted:restricted 60 10mbit flac 20

Prints one JSON line. Needs root and the bed (see README); `flac` for the FLAC track. PROFILE=none
runs the homes with no impairer process (NAT and the rate only): 31 impairers saturate a 2-core
machine, and the room then measures the machine rather than the network. HOST_NICE=-10 runs the
host and the relay at that niceness: each stands for a machine of its own, and without it the
30 listeners starting at once take the processor the host needs to send the first pieces.
"""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from join import bed, first, spawn, stop  # noqa: E402


def tx_bytes(ns, dev):
    out = subprocess.run(["ip", "-n", ns, "-j", "-s", "link", "show", dev], capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]["stats64"]["tx"]["bytes"]


COUNT = """table inet upload_split {
  chain out {
    type filter hook postrouting priority 200; policy accept;
    oifname "wan" ip daddr 10.77.0.1 tcp dport 3340 counter comment "relay"
    oifname "wan" meta l4proto udp counter comment "udp"
    oifname "wan" counter comment "other"
  }
}"""


def split_counters(ns, start):
    """Counts what leaves the host's router by kind, in the kernel (a capture would load the machine
    it measures): the relay's TCP, direct UDP (QUIC, clock datagrams) and the rest."""
    if start:
        subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=COUNT, text=True, check=True)
        return None
    out = subprocess.run(["ip", "netns", "exec", ns, "nft", "-j", "list", "table", "inet", "upload_split"], capture_output=True, text=True, check=True).stdout
    split = {}
    for item in json.loads(out)["nftables"]:
        rule = item.get("rule")
        if rule:
            counter = next((e["counter"] for e in rule["expr"] if "counter" in e), None)
            if counter:
                split[rule.get("comment", "?")] = counter["bytes"]
    # Rules run in order and every one counts, so "udp" and "relay" are inside "other"'s total.
    split["other"] = split.get("other", 0) - split.get("udp", 0) - split.get("relay", 0)
    return split


def sample_link(ns, path, stop_event):
    """With BENCH_LOGS: the host's uplink every 250 ms (bytes sent, queue, drops, from tbf's own
    counters), to tell a full link from a busy machine."""
    with open(path, "w") as out:
        t0 = time.monotonic()
        while not stop_event.wait(0.25):
            q = subprocess.run(["ip", "netns", "exec", ns, "tc", "-s", "-j", "qdisc", "show", "dev", "wan"], capture_output=True, text=True)
            try:
                root = json.loads(q.stdout)[0]
            except (ValueError, IndexError):
                continue
            load = open("/proc/loadavg").read().split()[0]
            out.write(json.dumps({"t": round(time.monotonic() - t0, 2), "sent": root["bytes"], "backlog": root["backlog"], "drops": root["drops"], "load": float(load)}) + "\n")


def make_track(d, seconds, fmt):
    """Music-like noise (FLAC cannot shrink it much: ~1.2 Mbit/s, a hard case for the uplink)."""
    wav = os.path.join(d, "track.wav")
    subprocess.run(["python3", "-c", f"""
import struct, math, random, wave
w = wave.open({wav!r}, 'wb'); w.setnchannels(2); w.setsampwidth(2); w.setframerate(44100)
r = random.Random(1)
w.writeframes(b''.join(struct.pack('<hh', int(6000*math.sin(i/20.0)) + r.randint(-3000, 3000), int(6000*math.sin(i/31.0)) + r.randint(-3000, 3000)) for i in range(44100*{seconds})))
"""], check=True)
    if fmt == "wav":
        return wav
    flac = os.path.join(d, "track.flac")
    subprocess.run(["flac", "-s", "-f", "-o", flac, wav], check=True)
    return flac


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    host_nat, listener_nat = (sys.argv[2] if len(sys.argv) > 2 else "restricted:restricted").split(":")
    seconds = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    rate = sys.argv[4] if len(sys.argv) > 4 else ""
    fmt = sys.argv[5] if len(sys.argv) > 5 else "wav"
    play = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    d = tempfile.mkdtemp(prefix="nat-upload-")
    song = make_track(d, seconds, fmt)
    size = os.path.getsize(song)
    name = f"nu{os.getpid() % 10000}"
    profile = os.environ.get("PROFILE", "lan")
    host_home = f"host:{profile}{'@' + rate if rate else ''}%{host_nat}"
    homes = [host_home] + [f"l{i}:{profile}%{listener_nat}" for i in range(n)]
    bed("up", name, *homes)
    procs = []
    try:
        host_nice = int(os.environ.get("HOST_NICE", "0"))
        relay, rl = spawn(name, "wan", "p2p-relay", "--listen", "10.77.0.1:3340", nice=host_nice)
        procs.append(relay)
        first(rl, lambda v: v.get("event") == "ready", 10)
        host, hl = spawn(name, "host", "host", "--listen", "192.168.0.2:0", "--tunnel", "http://10.77.0.1:3340", "--data-dir", d + "/host", song, nice=host_nice)
        procs.append(host)
        _, ready = first(hl, lambda v: v.get("event") == "ready", 20)
        # The track is named by its hash a moment after it is queued.
        time.sleep(1)
        before = tx_bytes(f"{name}-rhost", "wan")
        split_counters(f"{name}-rhost", True)
        sampling = threading.Event()
        if os.environ.get("BENCH_LOGS"):
            threading.Thread(target=sample_link, args=(f"{name}-rhost", os.path.join(os.environ["BENCH_LOGS"], "link.jsonl"), sampling), daemon=True).start()
        t0 = time.monotonic()
        listeners = []
        for i in range(n):
            p, lines = spawn(name, f"l{i}", "listen", ready["invite"], "--name", f"l{i}", "--output", "null", "--data-dir", f"{d}/l{i}")
            procs.append(p)
            listeners.append(lines)
        done, whole_at, sound_at, last_sync, to_opus = 0, [], [], [None] * n, 0
        for i, lines in enumerate(listeners):
            playing = None
            while True:
                at, v = first(lines, lambda v: v.get("event") in ("buffering", "playing", "sync", "quality"), 240)
                if v is None:
                    break
                if v["event"] == "quality":
                    # This listener judged its link too thin and fetches the host's Opus copies
                    # now: it will never hold the original whole.
                    to_opus += 1
                    break
                if v["event"] == "sync":
                    last_sync[i] = v
                if v["event"] == "playing" and playing is None:
                    playing = at
                if v["event"] == "buffering" and v.get("bytes") == size:
                    done += 1
                    whole_at.append(at - t0)
                    break
            if playing is not None:
                sound_at.append(playing - t0)
        after = tx_bytes(f"{name}-rhost", "wan")
        split = split_counters(f"{name}-rhost", False)
        sampling.set()
        up = after - before
        time.sleep(play)
        underruns = []
        for i, lines in enumerate(listeners):
            while True:
                _, v = first(lines, lambda v: v.get("event") == "sync", 0.05)
                if v is None:
                    break
                last_sync[i] = v
            underruns.append((last_sync[i] or {}).get("underruns"))
        whole_at.sort()
        sound_at.sort()
        print(json.dumps({"listeners": n, "profile": profile, "host_nice": host_nice, "host_nat": host_nat, "listener_nat": listener_nat, "rate": rate or None, "format": fmt,
                          "track_bytes": size, "track_s": seconds, "all_whole": done == n,
                          "whole_median_s": round(whole_at[len(whole_at) // 2], 2) if whole_at else None,
                          "whole_last_s": round(whole_at[-1], 2) if whole_at else None,
                          "playing_median_s": round(sound_at[len(sound_at) // 2], 2) if sound_at else None,
                          "playing_last_s": round(sound_at[-1], 2) if sound_at else None,
                          "host_upload_bytes": up, "upload_over_track": round(up / size, 2),
                          "upload_per_listener": round(up / n / size, 3),
                          "upload_split_over_track": {k: round(v / size, 2) for k, v in split.items()},
                          "played_on_s": play, "underruns_total": sum(u or 0 for u in underruns),
                          "listeners_with_underruns": sum(1 for u in underruns if u), "sync_missing": sum(1 for u in underruns if u is None),
                          "changed_to_opus": to_opus}))
    finally:
        stop(name, procs)


if __name__ == "__main__":
    main()
