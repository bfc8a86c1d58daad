#!/usr/bin/env bash
# The desktop app's start and footprint, measured from outside on a private Xvfb display:
#   - cold start to first paint: from exec to the first screenshot of the screen with the UI drawn
#     (more than 16 colours; the bare Xvfb root is one), polled every ~50 ms;
#   - idle memory: after 10 s on the start screen, the PSS of the app and every process it started
#     (WebKit's web and network processes), from /proc/PID/smaps_rollup;
#   - the release binary, stripped, and the .deb.
#   bench/app/measure.sh [APP]     (default: the release build in $CARGO_TARGET_DIR)
set -euo pipefail
target="${CARGO_TARGET_DIR:-$HOME/.cache/whatssound/target}"
app="${1:-$target/release/whatssound}"
[ -x "$app" ] || { echo "no app at $app: ui/node_modules/.bin/tauri build --bundles deb (from the repo root)" >&2; exit 1; }
export WHATSSOUND_DATA_DIR="$(mktemp -d)" WHATSSOUND_OUTPUT=null
inner="$WHATSSOUND_DATA_DIR/inner.sh"
cat > "$inner" <<'INNER'
set -u
shot="$WHATSSOUND_DATA_DIR/shot.png"
start=$(date +%s%N)
"$APP" & pid=$!
for _ in $(seq 400); do
    import -window root "$shot" 2>/dev/null || true
    colours=$(identify -format %k "$shot" 2>/dev/null || echo 0)
    if [ "${colours:-0}" -gt 16 ]; then break; fi
    sleep 0.02
done
end=$(date +%s%N)
echo "first_paint_ms $(( (end - start) / 1000000 ))"
sleep 10
total=0; n=0
for p in $pid $(pgrep -P $pid) $(for c in $(pgrep -P $pid); do pgrep -P $c; done); do
    kb=$(awk '/^Pss:/ {print $2}' /proc/$p/smaps_rollup 2>/dev/null || echo 0)
    total=$((total + ${kb:-0})); n=$((n + 1))
    echo "process $(cat /proc/$p/comm 2>/dev/null) pss_kib ${kb:-0}"
done
echo "idle_pss_mib $((total / 1024)) over $n processes"
kill -TERM $pid; wait $pid 2>/dev/null || true
INNER
APP="$app" xvfb-run -a -s "-screen 0 1280x800x24" bash "$inner"
strip -o "$WHATSSOUND_DATA_DIR/stripped" "$app"
echo "binary_mib $(du -m "$app" | cut -f1) stripped_mib $(du -m "$WHATSSOUND_DATA_DIR/stripped" | cut -f1)"
for deb in "$(dirname "$app")"/bundle/deb/*.deb; do [ -f "$deb" ] && echo "deb $(basename "$deb") $(du -k "$deb" | cut -f1) KiB"; done
rm -rf "$WHATSSOUND_DATA_DIR"
