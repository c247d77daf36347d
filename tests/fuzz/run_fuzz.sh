#!/usr/bin/env bash
# run_fuzz.sh FUZZER CORPUS_DIR SECONDS SEEDS [VOCAB]: seeds the corpus from
# real files and runs libFuzzer (AddressSanitizer + UBSan) for a bounded
# time. Fails on any crash, leak or sanitizer report; prints the executions.
#   SEEDS gguf: small real GGUF files from shared/models
#         spec: the JSON examples in docs/ (specs, cost inputs, policies)
#         text: the tokenizer test inputs from shared/models/vocab and text
#               from shared/data
#   VOCAB a vocabulary GGUF in shared/models/vocab (the tokenizer targets)
set -euo pipefail
fuzzer=$1 corpus=$2 seconds=$3 seeds=$4 vocab=${5:-}
here=$(cd "$(dirname "$0")" && pwd)
shared=${TCOBENCH_SHARED:-}
have_shared=0
[ -n "$shared" ] && [ -d "$shared/models" ] && have_shared=1
mkdir -p "$corpus"
case $seeds in
  gguf)
    if [ $have_shared = 1 ]; then
      cp -f "$shared/models/stories260K.gguf" "$corpus/" 2>/dev/null || true
    else
      echo "shared/ not found: fuzzing the GGUF reader from an empty corpus"
    fi ;;
  spec)
    # Each ```json block of the docs is one seed.
    awk -v out="$corpus/doc" '/^```json/ {n++; f=sprintf("%s-%03d.json", out, n); on=1; next}
                              /^```/ {on=0} on {print > f}' "$here"/../../docs/*.md ;;
  text)
    if [ $have_shared = 0 ]; then
      echo "SKIPPED: the tokenizer targets need shared/models/vocab (set TCOBENCH_SHARED)"
      exit 77
    fi
    i=0
    while IFS= read -r line && [ $i -lt 200 ]; do
      printf '\x00%s' "$line" > "$corpus/inp-$i"; i=$((i + 1))
    done < <(cat "$shared"/models/vocab/*.inp 2>/dev/null)
    head -c 4000 "$shared/data/wikitext-2-raw/wiki.test.raw" 2>/dev/null > "$corpus/wiki" || true ;;
esac
if [ -n "$vocab" ]; then
  if [ $have_shared = 0 ] || [ ! -f "$shared/models/vocab/$vocab" ]; then
    echo "SKIPPED: $vocab not found in shared/models/vocab"
    exit 77
  fi
  export TCOBENCH_FUZZ_VOCAB="$shared/models/vocab/$vocab"
fi
echo "fuzzing $(basename "$fuzzer") for ${seconds} s from $(ls "$corpus" | wc -l) inputs${vocab:+ (vocabulary $vocab)}"
exec "$fuzzer" "$corpus" -max_total_time="$seconds" -max_len=1200000 -rss_limit_mb=4096 \
  -timeout=20 -print_final_stats=1 -artifact_prefix="$corpus/../$(basename "$corpus")-"
