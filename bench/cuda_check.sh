#!/usr/bin/env bash
# The GPU checks of the CUDA backend (docs/cuda.md), for a machine with an
# NVIDIA GPU and a build configured with -DTCOBENCH_CUDA=ON:
#   bench/cuda_check.sh [BUILD_DIR] [SHARED_DIR] [DEVICE]
# 0. cuda_blocks_test (the block readers on the host; no GPU needed);
# then for each mode (MODES, default "staged direct direct+split
# direct+split+pdl": the decode matrix-vector kernels, TCOBENCH_CUDA_MATVEC,
# then +split for TCOBENCH_CUDA_ATTENTION=split, +pdl for TCOBENCH_CUDA_PDL=1):
# 1. backend_test against the CPU backend on every supported type (if a
#    mode fails it, again without each added part, and direct as
#    direct-unfused, to tell which part is at fault);
# 2. conformance_test (reference logits, greedy stories260K) on the GPU;
# 3. llama-1b-shaped models (F16 and Q4_K_M, random weights) through
#    `model bench`: prefill 512, decode at batch 1 and 8, J/token from NVML,
#    and F16 decode after 4096 tokens of context (-d 4096);
#    then the time of each operation at batch 1 (TCOBENCH_CUDA_PROFILE).
# MODES="direct" (say) runs one mode only; STEPS (default "backend
# conformance bench") picks the steps, e.g. STEPS=conformance for a second
# device call that carries the shared data. It needs the targets tcobench,
# backend_test, conformance_test and cuda_blocks_test built in BUILD_DIR
# (cmake --build build-cuda --target tcobench backend_test conformance_test
# cuda_blocks_test); the shared models for conformance_test.
set -uo pipefail
BUILD=${1:-build-cuda}
SHARED=${2:-$(dirname "$0")/../../shared}
DEVICE=${3:-cuda:0}
BIN=$BUILD/bin
WORK=${TMPDIR:-/tmp}/tcobench-cuda-check
mkdir -p "$WORK"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem --format=csv || true
status=0
STEPS=${STEPS:-backend conformance bench}
want() { case " $STEPS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
SYNTH=
if want bench; then  # the models are made meanwhile on the CPU
  ( "$BIN/tcobench" model synth "$WORK/llama-1b-F16.gguf" --shape llama-1b --type F16 &&
    "$BIN/tcobench" model quantize "$WORK/llama-1b-F16.gguf" "$WORK/llama-1b-Q4_K_M.gguf" --type Q4_K_M \
      >/dev/null ) > "$WORK/synth.log" 2>&1 &
  SYNTH=$!
fi
if want backend; then
  echo "== cuda_blocks_test"
  "$BIN/cuda_blocks_test" || status=1
fi
# A mode: the matrix-vector family, then +split (TCOBENCH_CUDA_ATTENTION=split)
# and +pdl (TCOBENCH_CUDA_PDL=1) if named.
set_mode() {
  export TCOBENCH_CUDA_MATVEC=${1%%+*}
  case "+$1+" in *+split+*) export TCOBENCH_CUDA_ATTENTION=split ;; *) export TCOBENCH_CUDA_ATTENTION=block ;; esac
  case "+$1+" in *+pdl+*) export TCOBENCH_CUDA_PDL=1 ;; *) export TCOBENCH_CUDA_PDL=0 ;; esac
}
for mode in ${MODES:-staged direct direct+split direct+split+pdl}; do
  set_mode "$mode"
  if want backend; then
    echo "== [$mode] backend_test ($DEVICE against the CPU)"
    if ! TCOBENCH_TEST_DEVICE=$DEVICE "$BIN/backend_test"; then
      status=1
      # Which part fails: the same without each added part.
      for variant in "${mode/+split/}" "${mode/+pdl/}" "${mode/#direct/direct-unfused}"; do
        [ "$variant" = "$mode" ] && continue
        set_mode "$variant"
        if TCOBENCH_TEST_DEVICE=$DEVICE "$BIN/backend_test" >/dev/null 2>&1; then r=passes; else r=fails; fi
        echo "   backend_test [$variant]: $r"
      done
      set_mode "$mode"
    fi
  fi
  if want conformance; then
    echo "== [$mode] conformance_test on $DEVICE"
    TCOBENCH_SHARED=$SHARED TCOBENCH_BIN_DIR=$BIN TCOBENCH_TEST_DEVICE=$DEVICE "$BIN/conformance_test" || status=1
  fi
  want bench || continue
  [ -n "$SYNTH" ] && wait "$SYNTH" 2>/dev/null
  [ -s "$WORK/llama-1b-Q4_K_M.gguf" ] || { cat "$WORK/synth.log"; exit 1; }
  for m in F16 Q4_K_M; do
    echo "== [$mode] model bench llama-1b $m on $DEVICE"
    "$BIN/tcobench" model bench "$WORK/llama-1b-$m.gguf" --device "$DEVICE" -p 512 -n 128 -r 3 || status=1
    "$BIN/tcobench" model bench "$WORK/llama-1b-$m.gguf" --device "$DEVICE" -p 0 -n 128 -r 3 -b 8 \
      --no-bandwidth || status=1
  done
  echo "== [$mode] model bench llama-1b F16 on $DEVICE after 4096 tokens of context"
  "$BIN/tcobench" model bench "$WORK/llama-1b-F16.gguf" --device "$DEVICE" -p 0 -n 128 -d 4096 -r 3 \
    --no-bandwidth || status=1
  echo "== [$mode] per-operation times, llama-1b F16, batch 1 (TCOBENCH_CUDA_PROFILE=1: no graphs)"
  TCOBENCH_CUDA_PROFILE=1 "$BIN/tcobench" model bench "$WORK/llama-1b-F16.gguf" --device "$DEVICE" \
    -p 0 -n 32 -r 1 --no-bandwidth 2>&1 | sed -n '/CUDA profile/,$p' || status=1
done
exit $status
