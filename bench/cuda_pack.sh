#!/usr/bin/env bash
# Packs what bench/cuda_check.sh runs on a GPU machine into one folder that
# the device tool can carry (at most 64 MiB):
#   bench/cuda_pack.sh [BUILD_DIR] [PACK_DIR] [SHARED_DIR]
#                                  (build-cuda, build-cuda/pack, no data)
# PACK_DIR/bin: copies of tcobench, backend_test, conformance_test
# and cuda_blocks_test (those built); PACK_DIR/libs.tar.xz: every shared
# library they load from this machine except the C library's own (libc,
# libm, the loader...), which the other machine must have anyway. The GPU
# machine's image is not this one: cuda_check.sh uses the bundled libraries
# only when tcobench does not start with the machine's own.
# XZ_LEVEL (default 6) sets the compression.
# With SHARED_DIR, PACK_DIR-data/shared gets the part of it that
# conformance_test reads (the reference logits and their models, stories260K
# and its greedy text, the TinyStories excerpt): too much to carry beside the binaries, so a second device call
# carries it while the first one's files are still on the machine.
# Then, on the GPU machine: bench/cuda_check.sh PACK_DIR PACK_DIR-data/shared cuda:0
set -euo pipefail
BUILD=${1:-build-cuda}
PACK=${2:-$BUILD/pack}
SHARED=${3:-}
LIMIT=$((64 * 1024 * 1024))
[ -x "$BUILD/bin/tcobench" ] || { echo "cuda_pack: $BUILD/bin/tcobench is not built" >&2; exit 1; }
rm -rf "$PACK"
mkdir -p "$PACK/bin"
binaries=()
for b in tcobench backend_test conformance_test cuda_blocks_test; do
  if [ -x "$BUILD/bin/$b" ]; then
    cp "$BUILD/bin/$b" "$PACK/bin/$b"  # not stripped: compute-sanitizer and cuda-gdb name functions
    binaries+=("$BUILD/bin/$b")
  else
    echo "cuda_pack: $BUILD/bin/$b is not built; left out"
  fi
done
libs=$(mktemp -d)
trap 'rm -rf "$libs"' EXIT
for lib in $(ldd "${binaries[@]}" | awk '/=>/ && $3 ~ /^\// {print $3}' | sort -u); do
  case "$(basename "$lib")" in
    libc.so* | libm.so* | libpthread.so* | libdl.so* | librt.so* | ld-linux* | libresolv.so*) continue ;;
  esac
  cp -L "$lib" "$libs/"
done
tar -C "$libs" -cf - . | xz -T0 "-${XZ_LEVEL:-6}" > "$PACK/libs.tar.xz"
# fits DIR WHAT: says DIR's size against what a device call carries; fails past it.
fits() {
  local bytes
  bytes=$(du -sb "$1" | cut -f1)
  echo "cuda_pack: $1 holds $2: $((bytes / 1048576)) MiB of the 64 MiB a device call carries"
  [ "$bytes" -le "$LIMIT" ] || { echo "cuda_pack: $1 is over 64 MiB" >&2; exit 1; }
}
fits "$PACK" "${#binaries[@]} binaries and $(ls "$libs" | wc -l) libraries (compressed)"
[ -n "$SHARED" ] || exit 0
[ -f "$SHARED/data/golden/logits/INDEX.json" ] || { echo "cuda_pack: $SHARED has no data/golden/logits" >&2; exit 1; }
data=$PACK-data/shared
rm -rf "$PACK-data"
mkdir -p "$data/data/golden" "$data/data/tinystories" "$data/models/synthetic"
cp -r "$SHARED/data/golden/logits" "$SHARED/data/golden/stories260K_greedy_n200.txt" "$data/data/golden/"
cp "$SHARED/data/tinystories/TinyStories-valid.head32k.txt" "$data/data/tinystories/"
cp "$SHARED/models/stories260K.gguf" "$data/models/"
# Every type: conformance_test skips, by name, those the GPU does not read.
cp "$SHARED"/models/synthetic/*.gguf "$data/models/synthetic/"
chmod -R u+w "$PACK-data"
fits "$PACK-data" "conformance_test's files"
