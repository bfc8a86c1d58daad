# Sourced by scripts/run and scripts/test: one target dir outside the clone, shared by every build,
# so a fresh clone on a machine that built before reuses its artifacts.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/whatssound/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Incremental compilation saves seconds on a rebuild but filled 24 GB here over a day of test
# runs; these scripts build from scratch or in large steps, so it is off unless asked for.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
