#!/usr/bin/env bash
# Side-by-side speed against llama.cpp's llama-bench on the same files, the
# way bench/RESULTS.md was measured:
#
#   [LLAMA_BENCH=...] [SHAPE=llama-1b] [TYPES="F16 Q8_0 Q4_0 Q4_K_M"] [PROMPT=128] [GEN=32]
#   [DEPTH=0] [BEFORE=/path/to/older/tcobench] bench/side_by_side.sh [WORKDIR] [SITTINGS] [REPS]
#
# Makes the SHAPE models in WORKDIR (as bench/speed_table.sh does), then for
# each sitting and type runs llama-bench and right after it tcobench model
# bench (-t 2 -p PROMPT -n GEN -d DEPTH -r REPS; DEPTH tokens already in the
# context before each measured run), and prints the table of
# bench/side_by_side.py. With BEFORE, that tcobench binary (an older build)
# runs in each sitting too, and the table gains its columns: a change's
# before/after ratio measured beside llama.cpp in the same sittings.
# llama-bench is not part of this project: by default the one
# scripts/build-llama-cpp.sh builds (llama.cpp v0.5.0, GGML_NATIVE) in its
# cache folder, outside this repository.
set -euo pipefail
work=${1:-/tmp/tcobench-speed}
sittings=${2:-3}
reps=${3:-5}
shape=${SHAPE:-llama-1b}
types=${TYPES:-F16 Q8_0 Q4_0 Q4_K_M}
shape_args=(-t 2 -p "${PROMPT:-128}" -n "${GEN:-32}" -d "${DEPTH:-0}" -r "$reps")
bin=${TCOBENCH:-$(dirname "$0")/../build/bin/tcobench}
ref=${LLAMA_BENCH:-$("$(dirname "$0")/../scripts/build-llama-cpp.sh" --dir)/bin/llama-bench}
[ -x "$ref" ] || { echo "side_by_side.sh: no llama-bench at $ref (run scripts/build-llama-cpp.sh or set LLAMA_BENCH)" >&2; exit 1; }
[ -z "${BEFORE:-}" ] || [ -x "$BEFORE" ] || { echo "side_by_side.sh: BEFORE=$BEFORE is not an executable" >&2; exit 1; }
rm -rf "$work/runs"
mkdir -p "$work/runs"
for t in $types; do
  f="$work/$shape-$t.gguf"
  [ -f "$f" ] || "$bin" model synth "$f" --shape "$shape" --type "$t" -t 2
done
for n in $(seq 1 "$sittings"); do
  for t in $types; do
    f="$work/$shape-$t.gguf"
    echo "sitting $n: $t" >&2
    "$ref" -m "$f" "${shape_args[@]}" -o json > "$work/runs/llb-$t-$n.json" 2>/dev/null
    "$bin" model bench "$f" "${shape_args[@]}" --format json > "$work/runs/tcb-$t-$n.json"
    if [ -n "${BEFORE:-}" ]; then
      "$BEFORE" model bench "$f" "${shape_args[@]}" --format json > "$work/runs/before-$t-$n.json"
    fi
  done
done
"$(dirname "$0")/side_by_side.py" "$work/runs" $types
