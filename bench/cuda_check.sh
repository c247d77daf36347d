#!/usr/bin/env bash
# The GPU checks of the CUDA backend (docs/cuda.md), for a machine with an
# NVIDIA GPU and a build configured with -DTCOBENCH_CUDA=ON:
#   bench/cuda_check.sh [BUILD_DIR] [SHARED_DIR] [DEVICE]
# 0. cuda_blocks_test (the block readers on the host; no GPU needed);
# then for each decode kernel family (TCOBENCH_CUDA_MATVEC=staged, direct;
# direct+pdl: direct with TCOBENCH_CUDA_PDL=1):
# 1. backend_test against the CPU backend on every supported type (if the
#    direct kernels fail it, again with direct-unfused: the norms as kernels
#    of their own, to tell a fused-norm fault from a kernel fault);
# 2. conformance_test (reference logits, greedy stories260K) on the GPU;
# 3. llama-1b-shaped models (F16 and Q4_K_M, random weights) through
#    `model bench`: prefill 512, decode at batch 1 and 8, J/token from NVML;
#    then the time of each operation at batch 1 (TCOBENCH_CUDA_PROFILE).
# MODES="direct" (say) runs one family only. It needs the targets tcobench,
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
# The models are made meanwhile on the CPU.
( "$BIN/tcobench" model synth "$WORK/llama-1b-F16.gguf" --shape llama-1b --type F16 &&
  "$BIN/tcobench" model quantize "$WORK/llama-1b-F16.gguf" "$WORK/llama-1b-Q4_K_M.gguf" --type Q4_K_M \
    >/dev/null ) > "$WORK/synth.log" 2>&1 &
SYNTH=$!
status=0
echo "== cuda_blocks_test"
"$BIN/cuda_blocks_test" || status=1
for mode in ${MODES:-staged direct direct+pdl}; do
  export TCOBENCH_CUDA_MATVEC=${mode%+pdl}
  if [ "$mode" = "${mode%+pdl}" ]; then export TCOBENCH_CUDA_PDL=0; else export TCOBENCH_CUDA_PDL=1; fi
  echo "== [$mode] backend_test ($DEVICE against the CPU)"
  if ! TCOBENCH_TEST_DEVICE=$DEVICE "$BIN/backend_test"; then
    status=1
    if [ "$mode" = direct ]; then
      echo "== [direct-unfused] backend_test ($DEVICE against the CPU)"
      TCOBENCH_CUDA_MATVEC=direct-unfused TCOBENCH_TEST_DEVICE=$DEVICE "$BIN/backend_test" 2>&1 | tail -5 &&
        echo "direct-unfused passes: the fault is in the fused norm"
    fi
  fi
  echo "== [$mode] conformance_test on $DEVICE"
  TCOBENCH_SHARED=$SHARED TCOBENCH_BIN_DIR=$BIN TCOBENCH_TEST_DEVICE=$DEVICE "$BIN/conformance_test" || status=1
  wait $SYNTH 2>/dev/null
  [ -s "$WORK/llama-1b-Q4_K_M.gguf" ] || { cat "$WORK/synth.log"; exit 1; }
  for m in F16 Q4_K_M; do
    echo "== [$mode] model bench llama-1b $m on $DEVICE"
    "$BIN/tcobench" model bench "$WORK/llama-1b-$m.gguf" --device "$DEVICE" -p 512 -n 128 -r 3 || status=1
    "$BIN/tcobench" model bench "$WORK/llama-1b-$m.gguf" --device "$DEVICE" -p 0 -n 128 -r 3 -b 8 \
      --no-bandwidth || status=1
  done
  echo "== [$mode] per-operation times, llama-1b F16, batch 1 (TCOBENCH_CUDA_PROFILE=1: no graphs)"
  TCOBENCH_CUDA_PROFILE=1 "$BIN/tcobench" model bench "$WORK/llama-1b-F16.gguf" --device "$DEVICE" \
    -p 0 -n 32 -r 1 --no-bandwidth 2>&1 | sed -n '/CUDA profile/,$p' || status=1
done
exit $status
