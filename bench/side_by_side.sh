#!/usr/bin/env bash
# Side-by-side speed against llama.cpp's llama-bench on the same files, the
# way bench/RESULTS.md was measured:
#
#   [LLAMA_BENCH=/path/to/llama-bench] bench/side_by_side.sh [WORKDIR] [SITTINGS] [REPS]
#
# Makes the llama-1b models in WORKDIR (as bench/speed_table.sh does), then
# for each sitting and type runs llama-bench and right after it tcobench
# model bench (-t 2 -p 128 -n 32 -r REPS), and prints the table of
# bench/side_by_side.py. llama-bench is not part of this project: by default
# the one scripts/build-llama-cpp.sh builds (llama.cpp v0.5.0, GGML_NATIVE)
# in its cache folder, outside this repository.
set -euo pipefail
work=${1:-/tmp/tcobench-speed}
sittings=${2:-3}
reps=${3:-5}
bin=${TCOBENCH:-$(dirname "$0")/../build/bin/tcobench}
ref=${LLAMA_BENCH:-$("$(dirname "$0")/../scripts/build-llama-cpp.sh" --dir)/bin/llama-bench}
[ -x "$ref" ] || { echo "side_by_side.sh: no llama-bench at $ref (run scripts/build-llama-cpp.sh or set LLAMA_BENCH)" >&2; exit 1; }
types="F16 Q8_0 Q4_0 Q4_K_M"
mkdir -p "$work/runs"
for t in $types; do
  f="$work/llama-1b-$t.gguf"
  [ -f "$f" ] || "$bin" model synth "$f" --shape llama-1b --type "$t" -t 2
done
for n in $(seq 1 "$sittings"); do
  for t in $types; do
    f="$work/llama-1b-$t.gguf"
    echo "sitting $n: $t" >&2
    "$ref" -m "$f" -t 2 -p 128 -n 32 -r "$reps" -o json > "$work/runs/llb-$t-$n.json" 2>/dev/null
    "$bin" model bench "$f" -t 2 -p 128 -n 32 -r "$reps" --format json > "$work/runs/tcb-$t-$n.json"
  done
done
"$(dirname "$0")/side_by_side.py" "$work/runs" $types
