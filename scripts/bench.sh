#!/usr/bin/env bash
# Benchmarks quoted in the README: detection cost (pure, over the recorded screens), GetTranscript paging
# over a 200 MB transcript (offset index against the old whole-file read), unary RPC latency (open loop,
# against a Nagle baseline), the event log (group commit against one transaction per event; resume over
# WatchEvents), scale (the real `aegis serve` with N fake Claude Code sessions and 1000 watchers) and exit
# latency (kill -9 of the fake CC → EXITED) and turn latency on the real Claude Code
# (hook reply times, Stop hook → IDLE; examples/bench_turns.rs, ~2 min; skips itself when CC is not
# installed, AEGIS_BENCH_NO_CC=1 skips it, AEGIS_BENCH_TURNS=N sets the turns). See bench/README.md for what each figure means.
#
#   scripts/bench.sh                      # default: 200 sessions, 1000 watchers, 10 s idle windows
#   scripts/bench.sh --sessions 20        # extra arguments go to the scale bench (examples/bench_scale.rs)
#
# Honours CARGO_TARGET_DIR. Needs tmux and /usr/bin/python3 (the fake CC, bench/fake-claude).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v tmux >/dev/null || { echo "bench: tmux not found" >&2; exit 1; }
[ -x /usr/bin/python3 ] || { echo "bench: /usr/bin/python3 not found (bench/fake-claude needs it)" >&2; exit 1; }
cargo build --release --quiet --bin aegis --example bench_detect --example bench_transcript --example bench_scale --example bench_exit \
  --example bench_rpc --example bench_events --example bench_turns
cargo run --release --quiet --example bench_detect
cargo run --release --quiet --example bench_transcript
cargo run --release --quiet --example bench_rpc
cargo run --release --quiet --example bench_events
cargo run --release --quiet --example bench_scale -- "$@"
cargo run --release --quiet --example bench_exit -- --kills 25
if [ -z "${AEGIS_BENCH_NO_CC:-}" ]; then
  cargo run --release --quiet --example bench_turns -- --turns "${AEGIS_BENCH_TURNS:-50}"
else
  echo "TURNS  skipped (AEGIS_BENCH_NO_CC is set)"
fi
