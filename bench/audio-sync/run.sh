#!/usr/bin/env bash
# How far apart two listeners really sound, measured from outside with the audio-sync kit
# (../shared/audio-sync: a private PulseAudio null sink, A on its left channel, B on its right,
# the monitor recorded and cross-correlated).
#
#   bench/audio-sync/run.sh [RUNS] [FORMATS] [SCENARIOS]
#   bench/audio-sync/run.sh 10 "flac ogg wav mp3" "join seek change"     # the defaults
#   LONG=300 bench/audio-sync/run.sh 1 flac join                           # a 5-minute run
#   TRACE=1 bench/audio-sync/run.sh 2 flac join       # also log each listener's device callbacks
#   NET=wifi bench/audio-sync/run.sh 10 flac "join late"  # listeners behind the network test bed
#   NET_A=delay=30,jitter=2 NET_B=... bench/audio-sync/run.sh ...      # a different path each
#   NET=internet SHARED_HOME=1 bench/audio-sync/run.sh 3 flac join     # A and B in one home (one LAN)
#   NET=internet SHARED_HOME=1 LAN_NET=wifi ...                          # ...whose LAN is Wi-Fi
#   NET=internet HOST_NAT=restricted bench/audio-sync/run.sh 3 flac join  # the host at home behind a
#       NAT too (restricted|cone|symmetric; LISTENER_NAT likewise for A's and B's homes), reached
#       only through the tunnel met at a relay (whatssound-cli p2p-relay) on the bed's wan
#   NO_LAN_CLOCK=1 ...                  # listeners keep to the host's clock, never to each other
#   B_ARGS="--quality opus" bench/audio-sync/run.sh 3 flac join   # more `listen` flags for B (A_ARGS for A):
#       here B plays the host's Opus copy while A plays the FLAC
#
# Each run: a host (`--output null`) plays two 60 s signals (chirp bursts from the kit's
# gen_signal.py at 44.1 kHz, so listeners resample to the device's 48 kHz), queued in that order;
# listener A (clock +40 ms, +50 ppm) and listener B (clock −25 ms, −50 ppm) join with
# `--output default`. Scenario `join` measures from the join; `seek` has the host seek to 30 s
# 7 s in; `change` has it skip to the second track 7 s in; `late` has B join 5 s after A. The
# recording is cut into 0.5 s windows, each cross-correlated; a window's offset is t(B) − t(A).
#
# NET=lan|wifi|internet|bad (or NET_A/NET_B, any tests/net/bed.sh profile) runs each run in a fresh
# network test bed: the host in its namespace, A and B each behind their own NAT'd, impaired home
# (needs root; the sound still goes to the kit's PulseAudio, whose socket is a file).
#
# Needs: a release whatssound-cli, pulseaudio pulseaudio-utils libasound2-plugins (scripts/setup),
# python3 with numpy and scipy, and flac, vorbis-tools, lame (to encode the signals).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/kit.sh"
runs="${1:-10}"
formats="${2:-flac ogg wav mp3}"
scenarios="${3:-join seek change}"
long="${LONG:-}"
for tool in flac oggenc lame python3; do command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }; done

net_a="${NET_A:-${NET:-}}"; net_b="${NET_B:-${NET:-}}"
bed="$here/../../tests/net/bed.sh"
bed_name=""
if [ -n "$net_a$net_b" ]; then
    [ -n "$net_a" ] && [ -n "$net_b" ] || { echo "set NET, or both NET_A and NET_B" >&2; exit 1; }
    export WHATSSOUND_NETBED="${WHATSSOUND_NETBED:-$(dirname "$cli")/whatssound-netbed}"
    why="$(bash "$bed" check)" || { echo "$why" >&2; exit 1; }
    trap '[ -n "$bed_name" ] && bash "$bed" down "$bed_name"' EXIT
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/whatssound-sync.XXXXXX")"
results="$here/../results/audio-sync-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
mkdir -p "$(dirname "$results")"
# A long run needs a first track that lasts it (the room moves on, and deletes, a finished track).
secs=60
[ -n "$long" ] && secs=$(( long + 20 ))
for seed in 1 2; do
    python3 "$kit/gen_signal.py" "$work/sig$seed.wav" --secs "$secs" --rate 44100 --seed "$seed" >/dev/null
    flac -s -f -o "$work/sig$seed.flac" "$work/sig$seed.wav"
    oggenc -Q -q 5 -o "$work/sig$seed.ogg" "$work/sig$seed.wav"
    lame --quiet -b 192 "$work/sig$seed.wav" "$work/sig$seed.mp3"    # lame writes its LAME/Xing tag
done

for fmt in $formats; do
  for scenario in $scenarios; do
    for run in $(seq 1 "$runs"); do
      out="$work/$fmt-$scenario-$run"
      mkdir -p "$out"
      in_a=""; in_b=""; in_host=""; listen_at=127.0.0.1:0
      if [ -n "$net_a" ]; then
          bed_name="as$$r$run"
          host_home=""; nat="${LISTENER_NAT:+%$LISTENER_NAT}"
          [ -n "${HOST_NAT:-}" ] && host_home="host:lan%$HOST_NAT"
          if [ -n "${SHARED_HOME:-}" ]; then
              bash "$bed" up "$bed_name" $host_home "a+b:$net_a${LAN_NET:+/$LAN_NET}$nat" >/dev/null
          else
              bash "$bed" up "$bed_name" $host_home "a:$net_a$nat" "b:$net_b$nat" >/dev/null
          fi
          in_host="ip netns exec $bed_name-host"; in_a="ip netns exec $bed_name-a"; in_b="ip netns exec $bed_name-b"
          listen_at=10.77.0.2:0
          if [ -n "${HOST_NAT:-}" ]; then
              # The host at home: reached only through the tunnel, met at a relay on the wan.
              ip netns exec "$bed_name-wan" "$cli" p2p-relay --listen 10.77.0.1:3340 >"$out/relay.jsonl" 2>"$out/relay.log" &
              for _ in $(seq 100); do grep -q '"ready"' "$out/relay.jsonl" 2>/dev/null && break; sleep 0.05; done
              listen_at="192.168.0.2:0 --tunnel http://10.77.0.1:3340"
          fi
      fi
      $in_host "$cli" host --listen $listen_at --data-dir "$out/host" --output null "$work/sig1.$fmt" "$work/sig2.$fmt" >"$out/host.jsonl" 2>"$out/host.log" &
      host=$!
      for _ in $(seq 100); do grep -q '"ready"' "$out/host.jsonl" 2>/dev/null && break; sleep 0.05; done
      invite="$(head -1 "$out/host.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["invite"])')"
      admin="$(head -1 "$out/host.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["host_invite"])')"
      secs=10; action=""
      case "$scenario" in
        seek) secs=14; action="seek 30000" ;;
        change) secs=14; action="skip" ;;
        late) secs=15 ;;
      esac
      [ -n "$long" ] && secs="$long"
      act=""
      if [ -n "$action" ]; then
        act="(sleep 7; date +%s%3N > '$out/event_ms'; $in_host '$cli' send --data-dir '$out/admin' '$admin' $action >/dev/null 2>&1) & "
      fi
      # TRACE=1: each listener logs its device callbacks (WHATSSOUND_DEVICE_TRACE) beside its output.
      ta=""; tb=""
      if [ -n "${TRACE:-}" ]; then ta="WHATSSOUND_DEVICE_TRACE='$out/a.trace'"; tb="WHATSSOUND_DEVICE_TRACE='$out/b.trace'"; fi
      late=""; [ "$scenario" = late ] && late="sleep 5;"
      lan_clock=""; [ -n "${NO_LAN_CLOCK:-}" ] && lan_clock="--no-lan-clock"
      a="echo \$MEASURE_START_AT_MS > '$out/start_ms'; $act $ta exec $in_a '$cli' listen '$invite' --name a --data-dir '$out/a' --output default --debug-clock-skew-ms 40 --debug-clock-drift-ppm 50 $lan_clock ${A_ARGS:-}"
      b="$late $tb exec $in_b '$cli' listen '$invite' --name b --data-dir '$out/b' --output default --debug-clock-skew-ms -25 --debug-clock-drift-ppm -50 $lan_clock ${B_ARGS:-}"
      MAX_SECS="$secs" OUT_DIR="$out/kit" KEEP=1 "$kit/measure_offset.sh" "$a" "$b" >"$out/kit.log" 2>&1 || true
      kill "$host" 2>/dev/null; wait "$host" 2>/dev/null || true
      cp "$out/kit/A.log" "$out/a.jsonl" 2>/dev/null || true
      cp "$out/kit/B.log" "$out/b.jsonl" 2>/dev/null || true
      if [ -n "$bed_name" ]; then bash "$bed" down "$bed_name"; bed_name=""; fi
      python3 "$here/analyse.py" "$out/kit/rec.wav" "$kit" >"$out/windows.json" 2>/dev/null || echo '{"windows": []}' >"$out/windows.json"
      python3 - "$out" "$fmt" "$scenario" "$run" "${net_a:-loopback}${net_b:+/$net_b}${HOST_NAT:+ host-nat=$HOST_NAT}${LISTENER_NAT:+ nat=$LISTENER_NAT}${SHARED_HOME:+ one-home}${LAN_NET:+ lan=$LAN_NET}${NO_LAN_CLOCK:+ no-lan-clock}${A_ARGS:+ a:$A_ARGS}${B_ARGS:+ b:$B_ARGS}" >>"$results" <<'PY'
import json, os, sys
out, fmt, scenario, run, net = sys.argv[1:6]
w = json.load(open(f"{out}/windows.json"))["windows"]
start = int(open(f"{out}/start_ms").read()) if os.path.exists(f"{out}/start_ms") else None
# The recording began ~1.8 s before MEASURE_START_AT_MS (0.3 s before launch, launch 1.5 s before it).
rec0 = start - 1800 if start else None
event = None
if os.path.exists(f"{out}/event_ms") and rec0:
    event = (int(open(f"{out}/event_ms").read()) - rec0) / 1000
first_sound = None
for line in open(f"{out}/a.jsonl") if os.path.exists(f"{out}/a.jsonl") else []:
    try:
        d = json.loads(line)
    except ValueError:
        continue
    if d.get("event") == "playing" and first_sound is None:
        first_sound = d["since_start_ms"]
# Each listener's clock as the CLI skews it (--debug-clock-skew-ms/-drift-ppm above), over the
# machine's CLOCK_MONOTONIC, which the host reads too: the true offset of every estimate is known.
SKEW = {"a": (40e6, 50e-6), "b": (-25e6, -50e-6)}

def syncs(path, side):
    """The listener's last sync line; its jump count one second (four sync lines) after it first
    sounded (the jumps after that are the ones a listener would hear as skips); and how far its
    clock estimate was from the truth from then on."""
    last, settled, since_playing = {}, None, None
    skew, drift = SKEW[side]
    errors = []
    for line in open(path) if os.path.exists(path) else []:
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if d.get("event") == "playing" and since_playing is None:
            since_playing = 0
        if d.get("event") == "sync":
            last = d
            if since_playing is not None:
                since_playing += 1
                if since_playing == 4:
                    settled = d.get("jumps") or 0
                if "local_ms" in d and since_playing >= 4:
                    local = d["local_ms"] * 1e6
                    errors.append(abs(d["clock_offset_ms"] - ((local - skew) / (1 + drift) - local) / 1e6))
    last["jumps_after_1s"] = (last.get("jumps") or 0) - settled if settled is not None else None
    errors.sort()
    last["clock_error_ms"] = [errors[len(errors) // 2], errors[-1]] if errors else None
    return last
players = {side: syncs(f"{out}/{side}.jsonl", side) for side in "ab"}
def total(key):
    return sum(p.get(key) or 0 for p in players.values())
print(json.dumps({"format": fmt, "scenario": scenario, "net": net, "run": int(run), "event_s": event, "first_sound_ms": first_sound,
                  "jumps": total("jumps"), "jumps_after_1s": total("jumps_after_1s"), "underruns": total("underruns"),
                  "uncertainty_ms": {s: p.get("uncertainty_ms") for s, p in players.items()},
                  "clock_error_ms": {s: p.get("clock_error_ms") for s, p in players.items()},
                  "round_trip_ms": {s: p.get("round_trip_ms") for s, p in players.items()}, "windows": w}))
PY
      echo "$fmt $scenario run $run: $(tail -1 "$out/kit.log")" >&2
    done
  done
done
python3 "$here/summary.py" "$results"
echo "raw: $results; recordings and logs: $work" >&2
