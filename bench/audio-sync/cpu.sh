#!/usr/bin/env bash
# CPU and memory of a listener playing through a real clocked device: a host (`--output null`)
# plays FILE; a listener joins with `--output default` inside the audio-sync kit's private
# PulseAudio (so it plays to a null sink clocked like a sound card); after SETTLE seconds its
# /proc/PID/stat is read twice, SECS apart.
#
#   bench/audio-sync/cpu.sh FILE [SECS] [SETTLE]       # e.g. sig1.flac 20 5
#
# Prints one line: cpu_percent (of one core, user + system) and rss_mib. Needs a release
# whatssound-cli and the kit (AUDIO_SYNC_KIT, default ../shared/audio-sync).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/kit.sh"
file="${1:?usage: cpu.sh FILE [SECS] [SETTLE]}"
secs="${2:-20}"
settle="${3:-5}"
work="$(mktemp -d "${TMPDIR:-/tmp}/whatssound-cpu.XXXXXX")"
"$cli" host --listen 127.0.0.1:0 --data-dir "$work/host" --output null "$file" >"$work/host.jsonl" 2>"$work/host.log" &
host=$!
trap 'kill "$host" 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q '"ready"' "$work/host.jsonl" 2>/dev/null && break; sleep 0.05; done
invite="$(head -1 "$work/host.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["invite"])')"
tick="$(getconf CLK_TCK)"
# Side A listens and measures itself; side B only keeps the kit's second slot busy.
a="'$cli' listen '$invite' --name a --data-dir '$work/a' --output default >'$work/a.jsonl' 2>&1 & p=\$!;
   sleep $settle; t0=\$(awk '{print \$14+\$15}' /proc/\$p/stat);
   sleep $secs; t1=\$(awk '{print \$14+\$15}' /proc/\$p/stat); rss=\$(awk '/VmRSS/ {print \$2}' /proc/\$p/status);
   echo \"\$t0 \$t1 \$rss\" > '$work/cpu'; kill \$p"
MAX_SECS=$(( secs + settle + 5 )) OUT_DIR="$work/kit" KEEP=1 "$kit/measure_offset.sh" "$a" "sleep $(( secs + settle + 2 ))" >"$work/kit.log" 2>&1 || true
read -r t0 t1 rss < "$work/cpu"
python3 -c "print(f'cpu_percent {($t1 - $t0) / $tick / $secs * 100:.2f} rss_mib {$rss / 1024:.1f}')"
echo "logs: $work" >&2
