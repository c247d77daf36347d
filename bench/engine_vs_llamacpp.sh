#!/usr/bin/env bash
# The embedded engine beside llama.cpp on the same files, as one comparison:
#
#   bench/engine_vs_llamacpp.sh [WORKDIR] [-- more `tcobench run --local` flags]
#
# Makes the llama-1b shape (random weights, F16) in WORKDIR once and runs
# bench/engine_vs_llamacpp.json: F16, Q8_0 and Q4_K_M (quantized by tcobench
# into the cache), each on the engine and on libllama (runtime llamacpp, the
# library of scripts/build-llama-cpp.sh or --llama-lib), 2 threads, prompt
# 128 and 32 output tokens, three repetitions with the variants alternating
# (A B A B ...). The summary's "engine vs llama.cpp" table gives prefill,
# decode and J/token of both with engine / llama.cpp ratios; the full result
# goes to WORKDIR/result.json.
set -euo pipefail
work=${1:-/tmp/tcobench-vs-llamacpp}
shift || true
[ "${1:-}" = "--" ] && shift
bin=${TCOBENCH:-$(dirname "$0")/../build/bin/tcobench}
mkdir -p "$work"
[ -f "$work/llama-1b-F16.gguf" ] || "$bin" model synth "$work/llama-1b-F16.gguf" --shape llama-1b --type F16 -t 2
"$bin" run "$(dirname "$0")/engine_vs_llamacpp.json" --local --model-root "$work" --cache-dir "$work/cache" \
  --output "$work/result.json" "$@"
