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
#    direct-unfused, to tell which part is at fault, and its device case
#    under compute-sanitizer's memcheck);
# 2. conformance_test (reference logits, greedy stories260K) on the GPU;
# 3. llama-1b-shaped models (F16 and Q4_K_M, random weights) through
#    `model bench`: prefill 512, decode at batch 1 and 8, J/token from NVML,
#    and F16 decode after 4096 tokens of context (-d 4096);
#    then the time of each operation at batch 1 (TCOBENCH_CUDA_PROFILE).
# At the end, one table of every mode's figures and results.
#
# MODES="direct" (say) runs one mode only; STEPS (default "backend
# conformance bench") picks the steps, e.g. STEPS=conformance for a second
# device call that carries the shared data. SHAPE (llama-1b), PROMPT (512),
# DEPTH (4096) and REPS (3) size the benchmarks; TEST_TIMEOUT (300) and
# BENCH_TIMEOUT (180) stop a test or benchmark that hangs; a dry run on the CPU:
#   MODES=staged SHAPE=stories15m PROMPT=64 DEPTH=128 bench/cuda_check.sh build ../shared cpu
# Everything printed goes to OUT (the device tool's folder; else
# $TMPDIR/tcobench-cuda-check/out) as cuda_check.log, with each benchmark's
# JSON (MODE__MODEL__NAME.json, + in a mode written _) and the summary
# (summary.md), so nothing is lost to a short output tail.
#
# It needs the targets tcobench, backend_test, conformance_test and
# cuda_blocks_test built in BUILD_DIR (cmake --build build-cuda --target
# tcobench backend_test conformance_test cuda_blocks_test), or a folder that
# bench/cuda_pack.sh made of them (with their shared libraries in
# libs.tar.xz, used only where the machine lacks its own); the shared models
# for conformance_test.
set -uo pipefail
# Absolute paths: the tests start tcobench from TCOBENCH_BIN_DIR and read
# TCOBENCH_SHARED wherever they run.
BUILD=$(realpath -m "${1:-build-cuda}")
SHARED=$(realpath -m "${2:-$(dirname "$0")/../../shared}")
DEVICE=${3:-cuda:0}
BIN=$BUILD/bin
WORK=${TMPDIR:-/tmp}/tcobench-cuda-check
OUT_DIR=${OUT:-$WORK/out}
SHAPE=${SHAPE:-llama-1b} PROMPT=${PROMPT:-512} DEPTH=${DEPTH:-4096} REPS=${REPS:-3}
STEPS=${STEPS:-backend conformance bench}
TEST_TIMEOUT=${TEST_TIMEOUT:-300} BENCH_TIMEOUT=${BENCH_TIMEOUT:-180}
# compute-sanitizer runs memcheck on backend_test's device case of a mode
# that fails it (SANITIZER= turns that off).
SANITIZER=${SANITIZER-$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)}
MODES=${MODES:-staged direct direct+split direct+split+pdl}
mkdir -p "$WORK" "$OUT_DIR"
if [ -z "${CUDA_CHECK_LOGGED:-}" ]; then  # once more, everything printed kept in the log
  CUDA_CHECK_LOGGED=1 "$0" "$@" 2>&1 | tee "$OUT_DIR/cuda_check.log"
  exit "${PIPESTATUS[0]}"
fi
RESULTS=$OUT_DIR/results.tsv  # mode, step, passed|failed
: > "$RESULTS"
step() { echo "== [${SECONDS}s] $*"; }
want() { case " $STEPS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$RESULTS"; }
# check MODE NAME COMMAND...: runs a test binary (at most TEST_TIMEOUT
# seconds: a kernel that never ends must not take the whole device call)
# and records passed, "N skipped, rest passed" (exit 77: cases that need what
# this machine lacks, such as libllama, named in the log), "timed out" or failed.
check() {
  local mode=$1 name=$2 rc=0
  shift 2
  timeout "$TEST_TIMEOUT" "$@" 2>&1 | tee "$WORK/test.log" || rc=${PIPESTATUS[0]}
  if [ "$rc" = 0 ]; then
    record "$mode" "$name" passed
  elif [ "$rc" = 77 ]; then
    record "$mode" "$name" "$(sed -n 's/^SKIPPED: \([0-9]*\) test case.*/\1/p' "$WORK/test.log") skipped, rest passed"
  else
    [ "$rc" = 124 ] && echo "   $name: still running after ${TEST_TIMEOUT}s, stopped"
    record "$mode" "$name" "$([ "$rc" = 124 ] && echo "timed out" || echo failed)"
    return 1
  fi
}

# Binaries built on another machine may miss its shared libraries: then the
# ones bench/cuda_pack.sh bundled beside them are used (CUDA_CHECK_BUNDLE=1:
# always), but the machine's own C++ runtime where the bundled one needs a
# newer C library than the machine has.
if [ -n "${CUDA_CHECK_BUNDLE:-}" ] || ! "$BIN/tcobench" --version > /dev/null 2>&1; then
  if [ -f "$BUILD/libs.tar.xz" ]; then
    rm -rf "$WORK/lib" && mkdir -p "$WORK/lib"
    tar -xJf "$BUILD/libs.tar.xz" -C "$WORK/lib" 2>/dev/null ||
      python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
        "$BUILD/libs.tar.xz" "$WORK/lib"
    export LD_LIBRARY_PATH="$WORK/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    if ! "$BIN/tcobench" --version > /dev/null 2>&1; then
      rm -f "$WORK"/lib/libstdc++.so* "$WORK"/lib/libgcc_s.so*
    fi
    echo "using the shared libraries bundled in $BUILD/libs.tar.xz"
  fi
  "$BIN/tcobench" --version || { echo "cuda_check: $BIN/tcobench does not start here (above)"; exit 1; }
fi
"$BIN/tcobench" --version
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem --format=csv 2>/dev/null ||
  echo "(no nvidia-smi here)"
status=0
SYNTH=
if want bench; then  # the models are made meanwhile on the CPU
  ( "$BIN/tcobench" model synth "$WORK/$SHAPE-F16.gguf" --shape "$SHAPE" --type F16 &&
    "$BIN/tcobench" model quantize "$WORK/$SHAPE-F16.gguf" "$WORK/$SHAPE-Q4_K_M.gguf" --type Q4_K_M \
      >/dev/null ) > "$WORK/synth.log" 2>&1 &
  SYNTH=$!
fi
if want backend; then
  step "cuda_blocks_test"
  if [ -x "$BIN/cuda_blocks_test" ]; then
    check all cuda_blocks_test "$BIN/cuda_blocks_test" || status=1
  else
    echo "   not built (it needs the CUDA headers)"
  fi
fi
# A mode: the matrix-vector family, then +split (TCOBENCH_CUDA_ATTENTION=split)
# and +pdl (TCOBENCH_CUDA_PDL=1) if named.
set_mode() {
  export TCOBENCH_CUDA_MATVEC=${1%%+*}
  case "+$1+" in *+split+*) export TCOBENCH_CUDA_ATTENTION=split ;; *) export TCOBENCH_CUDA_ATTENTION=block ;; esac
  case "+$1+" in *+pdl+*) export TCOBENCH_CUDA_PDL=1 ;; *) export TCOBENCH_CUDA_PDL=0 ;; esac
}
# bench MODE MODEL NAME ARGS...: one `model bench`, its JSON kept as
# MODE__MODEL__NAME.json, one line printed.
bench() {
  local mode=$1 m=$2 name=$3 json
  shift 3
  json="$OUT_DIR/${mode//+/_}__${m}__${name}.json"  # file names of plain characters
  if timeout "$BENCH_TIMEOUT" "$BIN/tcobench" model bench "$WORK/$SHAPE-$m.gguf" --device "$DEVICE" \
    --format json "$@" > "$json.tmp"; then
    mv "$json.tmp" "$json"
    python3 "$(dirname "$0")/cuda_summary.py" --line "$json" 2>/dev/null || cat "$json"
  else
    cat "$json.tmp"
    rm -f "$json.tmp"
    record "$mode" "bench $m $name" failed
    status=1
  fi
}
for mode in $MODES; do
  set_mode "$mode"
  if want backend; then
    step "[$mode] backend_test ($DEVICE against the CPU)"
    if ! check "$mode" backend_test env TCOBENCH_TEST_DEVICE="$DEVICE" "$BIN/backend_test"; then
      status=1
      # Which part fails: the same without each added part.
      for variant in "${mode/+split/}" "${mode/+pdl/}" "${mode/#direct/direct-unfused}"; do
        [ "$variant" = "$mode" ] && continue
        set_mode "$variant"
        if TCOBENCH_TEST_DEVICE=$DEVICE timeout "$TEST_TIMEOUT" "$BIN/backend_test" >/dev/null 2>&1; then
          r=passed
        else
          r=failed
        fi
        echo "   backend_test [$variant]: $r"
        record "$variant" backend_test "$r"
      done
      set_mode "$mode"
      if [ -n "$SANITIZER" ]; then
        step "[$mode] $SANITIZER memcheck, backend_test's device case"
        san="$OUT_DIR/${mode//+/_}__memcheck.txt"
        TCOBENCH_TEST_DEVICE=$DEVICE timeout "$TEST_TIMEOUT" "$SANITIZER" --tool memcheck --print-limit 10 \
          "$BIN/backend_test" --run_test=device_matches_cpu > "$san" 2>&1
        echo "   exit $? ($san); its last lines:"
        tail -n 30 "$san"
      else
        echo "   (no compute-sanitizer here to look for bad accesses)"
      fi
    fi
  fi
  if want conformance; then
    step "[$mode] conformance_test on $DEVICE"
    check "$mode" conformance_test env TCOBENCH_SHARED="$SHARED" TCOBENCH_BIN_DIR="$BIN" \
      TCOBENCH_TEST_DEVICE="$DEVICE" "$BIN/conformance_test" || status=1
    cp "$WORK/test.log" "$OUT_DIR/${mode//+/_}__conformance.txt"  # its KLD per file, for the summary
  fi
  want bench || continue
  if [ -n "$SYNTH" ]; then
    step "waiting for the $SHAPE models"
    wait "$SYNTH" 2>/dev/null
    SYNTH=
  fi
  [ -s "$WORK/$SHAPE-Q4_K_M.gguf" ] || { cat "$WORK/synth.log"; exit 1; }
  for m in F16 Q4_K_M; do
    step "[$mode] model bench $SHAPE $m on $DEVICE"
    bench "$mode" "$m" b1 -p "$PROMPT" -n 128 -r "$REPS"
    bench "$mode" "$m" b8 -p 0 -n 128 -r "$REPS" -b 8 --no-bandwidth
  done
  step "[$mode] model bench $SHAPE F16 on $DEVICE after $DEPTH tokens of context"
  bench "$mode" F16 depth -p 0 -n 128 -d "$DEPTH" -r "$REPS" --no-bandwidth
  step "[$mode] per-operation times, $SHAPE F16, batch 1 (TCOBENCH_CUDA_PROFILE=1: no graphs)"
  TCOBENCH_CUDA_PROFILE=1 timeout "$BENCH_TIMEOUT" "$BIN/tcobench" model bench "$WORK/$SHAPE-F16.gguf" --device "$DEVICE" \
    -p 0 -n 32 -r 1 --no-bandwidth > "$WORK/profile.txt" 2>&1 || status=1
  sed -n '/CUDA profile/,$p' "$WORK/profile.txt" | tee "$OUT_DIR/${mode//+/_}__profile.txt"
done
step "summary ($SHAPE on $DEVICE; also in $OUT_DIR/summary.md)"
python3 "$(dirname "$0")/cuda_summary.py" "$OUT_DIR" "$MODES" | tee "$OUT_DIR/summary.md" || cat "$RESULTS"
exit $status
