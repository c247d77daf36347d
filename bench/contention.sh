#!/usr/bin/env bash
# Decode speed on a quiet machine and with CPU-bound processes competing for
# every core (issue 19: the thread pool must share), side by side for one or
# more tcobench binaries:
#
#   bench/contention.sh MODEL.gguf [SITTINGS] [TCOBENCH...]
#
# Each sitting runs, for each binary in turn, `model bench MODEL -p 16 -n
# N_GEN -r REPS -t CPUS` (N_GEN=64, REPS=5 unless set) once on the quiet machine and once while one busy loop per
# CPU runs (`sh -c 'while :; do :; done'`, killed afterwards). Prints each
# binary's median quiet and busy decode tokens/s over the sittings and busy
# over quiet (fair share with as many competitors as cores is about 0.5);
# with two binaries, the second's quiet speed over the first's.
set -euo pipefail
model=${1:?usage: bench/contention.sh MODEL.gguf [SITTINGS] [TCOBENCH...]}
sittings=${2:-5}
shift $(( $# >= 2 ? 2 : 1 ))
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=("$(dirname "$0")/../build/bin/tcobench")
cpus=$(nproc)
out=$(mktemp -d)
trap 'rm -rf "$out"; kill $(jobs -p) 2>/dev/null || true' EXIT
decode() {  # BIN -> decode tokens/s
  "$1" model bench "$model" -p 16 -n "${N_GEN:-64}" -r "${REPS:-5}" -t "$cpus" --no-bandwidth --format json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["decode_tokens_per_second"])'
}
for s in $(seq 1 "$sittings"); do
  for i in "${!bins[@]}"; do
    decode "${bins[$i]}" >> "$out/quiet-$i"
    pids=()
    for _ in $(seq 1 "$cpus"); do sh -c 'while :; do :; done' & pids+=($!); done
    sleep 0.5
    decode "${bins[$i]}" >> "$out/busy-$i"
    kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
    echo "sitting $s, ${bins[$i]}: quiet $(tail -n1 "$out/quiet-$i"), busy $(tail -n1 "$out/busy-$i")" >&2
  done
done
python3 - "$out" "$cpus" "${bins[@]}" <<'PY'
import statistics, sys
out, cpus, bins = sys.argv[1], sys.argv[2], sys.argv[3:]
med = lambda f: statistics.median(float(x) for x in open(f))
print(f"decode tokens/s, median of the sittings; {cpus} CPUs, {cpus} busy loops competing")
print(f"{'binary':50} {'quiet':>10} {'busy':>10} {'busy/quiet':>11}")
quiet = []
for i, b in enumerate(bins):
    q, s = med(f"{out}/quiet-{i}"), med(f"{out}/busy-{i}")
    quiet.append(q)
    print(f"{b:50} {q:10.1f} {s:10.1f} {s / q:11.3f}")
if len(bins) == 2:
    print(f"quiet speed, second over first: {quiet[1] / quiet[0]:.3f}")
PY
