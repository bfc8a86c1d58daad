#!/usr/bin/env bash
# Runs the hub load benchmark's standard scenarios, one fresh hub each:
#   a  1,000 subscribers × 1,000 messages at  20/s
#   b  1,000 subscribers × 1,000 messages at 100/s
#   c  5,000 joined idle sockets (the hub's memory per socket)
#   d    200 subscribers × 1,000 messages at 100/s
#   smoke  50 subscribers × 100 messages at 50/s (not in the default set: checks the harness)
#
#   bench/run.sh            # a b c d
#   bench/run.sh c d        # only those
#   WHATSSOUND_CLI=/path/to/whatssound-cli bench/run.sh
#
# The binary defaults to the release build in $CARGO_TARGET_DIR (~/.cache/whatssound/target),
# else the debug one (figures from a debug build are only good for checking the harness).
# Each scenario's summary goes to the terminal; its JSON line is appended to
# bench/results/<UTC time>.jsonl. Exits non-zero if any scenario lost, duplicated or reordered
# a message, or failed to join.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target="${CARGO_TARGET_DIR:-$HOME/.cache/whatssound/target}"
if [[ -z "${WHATSSOUND_CLI:-}" ]]; then
  if [[ -x "$target/release/whatssound-cli" ]]; then
    WHATSSOUND_CLI="$target/release/whatssound-cli"
  else
    WHATSSOUND_CLI="$target/debug/whatssound-cli"
  fi
fi
if [[ ! -x "$WHATSSOUND_CLI" ]]; then
  echo "run.sh: no whatssound-cli at $WHATSSOUND_CLI: build it (cargo build --release -p whatssound-cli) or set WHATSSOUND_CLI" >&2
  exit 1
fi
export WHATSSOUND_CLI
case "$WHATSSOUND_CLI" in
  */debug/*) echo "run.sh: $WHATSSOUND_CLI is a DEBUG build: use a release build for figures worth publishing" >&2 ;;
esac

# 5,000 sockets are 5,000 fds in the hub (which inherits this limit) plus as many in the workers.
# Raise the soft limit to 65536, or to the hard limit when that is lower.
want=65536
hard="$(ulimit -Hn)"
if [[ "$hard" != unlimited && "$hard" -lt "$want" ]]; then
  want="$hard"
fi
ulimit -n "$want" 2>/dev/null || true
echo "run.sh: open-file limit $(ulimit -n)" >&2

# The official phoenix.js client and ws, exactly as locked.
if [[ ! -d "$here/node_modules/phoenix" || ! -d "$here/node_modules/ws" ]]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi

scenario_args() {
  case "$1" in
    a) echo "--subscribers 1000 --messages 1000 --rate 20" ;;
    b) echo "--subscribers 1000 --messages 1000 --rate 100" ;;
    c) echo "--subscribers 5000 --idle" ;;
    d) echo "--subscribers 200 --messages 1000 --rate 100" ;;
    smoke) echo "--subscribers 50 --messages 100 --rate 50" ;;
    *) return 1 ;;
  esac
}

scenarios=("$@")
if [[ ${#scenarios[@]} -eq 0 ]]; then
  scenarios=(a b c d)
fi
for s in "${scenarios[@]}"; do
  if ! scenario_args "$s" >/dev/null; then
    echo "run.sh: unknown scenario '$s' (a, b, c, d or smoke)" >&2
    exit 2
  fi
done

mkdir -p "$here/results"
results="$here/results/$(date -u +%Y%m%dT%H%M%SZ).jsonl"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
failed=0
for s in "${scenarios[@]}"; do
  echo "run.sh: scenario $s: $(scenario_args "$s")" >&2
  status=0
  # shellcheck disable=SC2046 # the scenario's options are meant to split into words
  node "$here/hub-load.mjs" --label "$s" $(scenario_args "$s") | tee "$out" || status=$?
  # The JSON line is the last line on stdout (when the run got that far).
  if tail -n 1 "$out" | grep -q '^{"bench":"hub-load"'; then
    tail -n 1 "$out" >>"$results"
  fi
  if [[ $status -ne 0 ]]; then
    echo "run.sh: scenario $s failed (exit $status)" >&2
    failed=1
  fi
  echo
done
echo "run.sh: results in $results" >&2
exit "$failed"
