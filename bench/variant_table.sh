#!/usr/bin/env bash
# Makes every quantized variant of a model with `tcobench model quantize` and
# measures size, bits per weight, perplexity, mean KLD and same-top-1 against
# the original with `tcobench eval`. Prints a Markdown table.
#
#   bench/variant_table.sh MODEL.gguf TEXT [CTX] [TYPES...]
#   bench/variant_table.sh ../shared/models/stories260K.gguf \
#       ../shared/data/tinystories/TinyStories-valid.head32k.txt 128
set -euo pipefail
model=$1 text=$2 ctx=${3:-128}
shift $(( $# >= 3 ? 3 : $# ))
types=("$@")
[ ${#types[@]} -gt 0 ] || types=(F16 BF16 Q8_0 Q6_K Q5_K_M Q5_K_S Q5_1 Q5_0 Q4_K_M Q4_K_S Q4_1 Q4_0 Q3_K_M Q2_K)
bin=${TCOBENCH:-$(dirname "$0")/../build/bin/tcobench}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

echo "| variant | bytes | bits/weight | PPL (ctx $ctx) | mean KLD | same top-1 |"
echo "|---|---:|---:|---:|---:|---:|"
"$bin" model info "$model" --format json > "$work/info.json"
"$bin" eval perplexity "$model" --text "$text" --ctx "$ctx" --format json > "$work/ppl.json"
printf "| original (%s) | %s | %.3f | %.4f ± %.4f | — | — |\n" "$(basename "$model")" \
  "$(field "$work/info.json" n_bytes)" "$(field "$work/info.json" bits_per_weight)" \
  "$(field "$work/ppl.json" ppl)" "$(field "$work/ppl.json" ppl_stderr)"
for t in "${types[@]}"; do
  out="$work/$t.gguf"
  "$bin" model quantize "$model" "$out" --type "$t" > /dev/null
  "$bin" model info "$out" --format json > "$work/info.json"
  "$bin" eval kld "$model" "$out" --text "$text" --ctx "$ctx" --format json > "$work/kld.json"
  printf "| %s | %s | %.3f | %.4f ± %.4f | %.6f ± %.6f | %.3f%% |\n" "$t" \
    "$(field "$work/info.json" n_bytes)" "$(field "$work/info.json" bits_per_weight)" \
    "$(field "$work/kld.json" ppl_candidate)" "$(field "$work/kld.json" ppl_candidate_stderr)" \
    "$(field "$work/kld.json" mean_kld)" "$(field "$work/kld.json" mean_kld_stderr)" \
    "$(python3 -c "import json; print(100*json.load(open('$work/kld.json'))['same_top1'])")"
  rm -f "$out"
done
