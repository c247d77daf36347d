#!/usr/bin/env bash
# run_sanitized.sh SOURCE_DIR BUILD_DIR: builds the project with
# AddressSanitizer and UndefinedBehaviorSanitizer (g++) in BUILD_DIR and runs
# its unit tests there; any sanitizer report fails the run.
set -euo pipefail
src=$1 build=$2
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# -O1 with line tables: quicker to build than -O2 -g, and the reports still
# name files and lines.
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="-O1 -g1" -DTCOBENCH_SANITIZE=ON \
  > "$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
# Only what the unit tests need (each unit test's target is named as the test).
# (Scripted tests such as the include rules have no target.)
known=$(cmake --build "$build" --target help | awk -F: '{print $1}')
targets=$(for t in $(ctest --test-dir "$build" -N -L unit | awk '/Test +#[0-9]+:/ {print $3}'); do
  grep -qx "$t" <<< "$known" && echo "$t"; done)
start=$(date +%s)
cmake --build "$build" -j"$(nproc)" --target $targets > "$build.build.log" 2>&1 || { tail -50 "$build.build.log"; exit 1; }
echo "sanitized build of $(echo $targets | wc -w) unit tests: $(( $(date +%s) - start )) s"
ctest --test-dir "$build" -L unit -LE "sanitize|static" --output-on-failure -j"$(nproc)"
