#!/usr/bin/env bash
# run_fuzz.sh FUZZER CORPUS_DIR SECONDS: seeds the corpus with small real GGUF
# files (shared/ when present, else the fuzzer starts from nothing) and runs
# libFuzzer for a bounded time. Fails on any crash, leak or sanitizer report.
set -euo pipefail
fuzzer=$1 corpus=$2 seconds=$3
mkdir -p "$corpus"
shared=${TCOBENCH_SHARED:-}
if [ -n "$shared" ] && [ -d "$shared/models" ]; then
  for f in "$shared/models/stories260K.gguf"; do
    [ -f "$f" ] && cp -f "$f" "$corpus/" || true
  done
else
  echo "shared/ not found: fuzzing from an empty corpus"
fi
exec "$fuzzer" "$corpus" -max_total_time="$seconds" -max_len=1200000 -rss_limit_mb=4096 \
  -timeout=20 -print_final_stats=1
