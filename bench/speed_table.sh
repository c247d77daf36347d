#!/usr/bin/env bash
# Speed of the embedded engine on the llama-1b shape (TinyLlama-1.1B layout,
# random weights) in the reference's four types, as in bench/RESULTS.md:
#
#   bench/speed_table.sh [WORKDIR] [REPS]
#
# Synthesizes the models into WORKDIR (default /tmp/tcobench-speed; about
# 4.6 GB, made once) and prints one JSON line per run of `tcobench model bench
# -p 128 -n 32 -t 2`, plus a -b 8 decode run on Q4_K_M.
set -euo pipefail
work=${1:-/tmp/tcobench-speed}
reps=${2:-3}
bin=${TCOBENCH:-$(dirname "$0")/../build/bin/tcobench}
mkdir -p "$work"
for t in F16 Q8_0 Q4_0 Q4_K_M; do
  f="$work/llama-1b-$t.gguf"
  [ -f "$f" ] || "$bin" model synth "$f" --shape llama-1b --type "$t" -t 2
done
for t in F16 Q8_0 Q4_0 Q4_K_M; do
  "$bin" model bench "$work/llama-1b-$t.gguf" -p 128 -n 32 -r "$reps" -t 2 --format json | tr -d '\n '
  echo
done
"$bin" model bench "$work/llama-1b-Q4_K_M.gguf" -p 0 -n 32 -r "$reps" -t 2 -b 8 --no-bandwidth --format json | tr -d '\n '
echo
