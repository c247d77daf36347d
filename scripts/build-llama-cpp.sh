#!/usr/bin/env bash
# Builds llama.cpp (CPU only) from the source the npm package node-llama-cpp
# ships: `llama/gitRelease.bundle`, a git bundle of ggml-org/llama.cpp
# release v0.5.0 (commit de3ff815). Nothing of llama.cpp is copied into the
# project: the package is fetched with `npm pack` into a cache folder and
# built there, once; later runs reuse it.
#
#   scripts/build-llama-cpp.sh           build (or reuse) and print the folder
#   scripts/build-llama-cpp.sh --dir     print the folder only (built or not)
#
# The folder (TCOBENCH_LLAMA_DIR, default ~/.cache/tcobench/llama.cpp-3.22.1)
# holds bin/ (llama-server, llama-perplexity, llama-bench, llama-tokenize), lib/ (libllama and ggml's shared libraries),
# include/ (llama.h, ggml's headers) and a `complete` stamp naming the
# commit. The tests and the llama.cpp runtime find it there (or through
# TCOBENCH_LLAMA_DIR). 492 s on a 2-vCPU VM; needs npm, git, cmake and g++
# (scripts/install-deps.sh --test installs them and runs this).
set -euo pipefail
version=3.22.1
dir=${TCOBENCH_LLAMA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tcobench/llama.cpp-$version}
if [ "${1:-}" = "--dir" ]; then echo "$dir"; exit 0; fi
if [ -f "$dir/complete" ] && [ -x "$dir/bin/llama-server" ] && [ -x "$dir/bin/llama-perplexity" ] &&
   [ -x "$dir/bin/llama-bench" ] && [ -x "$dir/bin/llama-tokenize" ]; then
  echo "llama.cpp: reusing $dir ($(cat "$dir/complete"))" >&2
  echo "$dir"
  exit 0
fi
for tool in npm git cmake g++ tar; do
  command -v "$tool" >/dev/null || { echo "build-llama-cpp.sh: '$tool' is missing (scripts/install-deps.sh --test installs it)" >&2; exit 1; }
done
mkdir -p "$dir"
# A folder from an earlier run keeps its source and build tree: only what is
# missing is built (an added tool takes a minute, not a rebuild).
if [ "$(git -C "$dir/src" rev-parse HEAD 2>/dev/null | cut -c1-8)" != de3ff815 ]; then
  work="$dir/work"
  rm -rf "$work" && mkdir -p "$work"
  echo "llama.cpp: fetching node-llama-cpp@$version with npm pack" >&2
  (cd "$work" && npm pack --silent "node-llama-cpp@$version" > pack.txt)
  tarball="$work/$(tail -1 "$work/pack.txt")"
  tar -xzf "$tarball" -C "$work" package/llama/gitRelease.bundle package/llama/llama.cpp.info.json
  echo "llama.cpp: $(tr -d '\n ' < "$work/package/llama/llama.cpp.info.json")" >&2
  rm -rf "$dir/src"
  git clone --quiet "$work/package/llama/gitRelease.bundle" "$dir/src" 2>/dev/null
  rm -rf "$work"
fi
commit=$(git -C "$dir/src" rev-parse HEAD)
case "$commit" in
  de3ff815*) ;;
  *) echo "build-llama-cpp.sh: the bundle holds commit $commit, not de3ff815 (llama.cpp v0.5.0)" >&2; exit 1 ;;
esac
# CPU only, no network at build or run time (no prebuilt web UI download,
# no HTTPS), shared libraries so the llama.cpp runtime can link libllama.
# GGML_NATIVE: built on the machine that runs it, for its instruction set.
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$dir/src" -B "$dir/build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_SHARED_LIBS=ON -DGGML_NATIVE=ON -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
  -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF \
  > "$dir/configure.log" 2>&1 || { tail -40 "$dir/configure.log" >&2; exit 1; }
echo "llama.cpp: building llama-server, llama-perplexity, llama-bench, llama-tokenize and libllama in $dir/build (log: $dir/build.log)" >&2
start=$(date +%s)
cmake --build "$dir/build" -j"$(nproc)" --target llama-server llama-perplexity llama-bench llama-tokenize llama > "$dir/build.log" 2>&1 ||
  { tail -40 "$dir/build.log" >&2; exit 1; }
rm -rf "$dir/bin" "$dir/lib" "$dir/include"
mkdir -p "$dir/bin" "$dir/lib" "$dir/include"
for tool in llama-server llama-perplexity llama-bench llama-tokenize; do cp "$dir/build/bin/$tool" "$dir/bin/"; done
find "$dir/build" -name 'lib*.so*' \( -type f -o -type l \) -exec cp -P {} "$dir/lib/" \;
cp "$dir/src/include/llama.h" "$dir/src/ggml/include/"*.h "$dir/include/"
echo "v0.5.0 $commit" > "$dir/complete"
echo "llama.cpp: built in $(( $(date +%s) - start )) s" >&2
echo "$dir"
