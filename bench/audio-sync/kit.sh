# Sourced by the audio-sync benchmarks: where the measuring kit and the release CLI are, each
# checked once with the line that says how to get it.
here="$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)"
kit="${AUDIO_SYNC_KIT:-$here/../../../shared/audio-sync}"
cli="${WHATSSOUND_CLI:-${CARGO_TARGET_DIR:-$HOME/.cache/whatssound/target}/release/whatssound-cli}"
[ -x "$cli" ] || { echo "no release build at $cli: cargo build --release -p whatssound-cli" >&2; exit 1; }
[ -f "$kit/measure_offset.sh" ] || { echo "the audio-sync kit is not at $kit: set AUDIO_SYNC_KIT" >&2; exit 1; }
