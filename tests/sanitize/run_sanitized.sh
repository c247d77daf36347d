#!/usr/bin/env bash
# run_sanitized.sh SOURCE_DIR BUILD_DIR [address|thread]
#   address (default): builds the project with AddressSanitizer and
#     UndefinedBehaviorSanitizer (g++) in BUILD_DIR and runs its unit tests.
#   thread: builds it with ThreadSanitizer and runs the tests that run
#     several threads (label `threads`: the unit tests of the store, metrics,
#     scenarios, engine sessions, meters, worker and security; the service
#     tests' coordination cases and fault_restart_test, with a real
#     coordinator and workers, also built with TSan).
# Any sanitizer report fails the run.
set -euo pipefail
src=$1 build=$2 mode=${3:-address}
case "$mode" in
  address)
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    flag=-DTCOBENCH_SANITIZE=ON
    select=(-L unit -LE "sanitize|static")
    ;;
  thread)
    # Debian's gRPC, Protobuf and Abseil are not built with TSan: their own
    # accesses (and their absl::Mutex locking, which TSan cannot see) are
    # ignored; every access from the project's code is checked, and the
    # project's locks are std::mutex underneath, which TSan sees.
    # Reports also go to files: a daemon a test starts may die of one where
    # the test would only see it gone.
    reports="$build/tsan-reports"
    rm -rf "$reports" && mkdir -p "$reports"
    export TSAN_OPTIONS="halt_on_error=1:exitcode=66:ignore_noninstrumented_modules=1:second_deadlock_stack=1:suppressions=$src/tests/sanitize/tsan.supp:log_path=$reports/report"
    flag=-DTCOBENCH_TSAN=ON
    select=(-L threads)
    ;;
  *) echo "run_sanitized.sh: mode '$mode' is not address or thread" >&2; exit 2 ;;
esac
# -O1 with line tables: quicker to build than -O2 -g, and the reports still
# name files and lines. A unity build (each library's sources compiled
# together in batches) saves the headers' repeated parsing, most of the time
# on CI's two cores; the generated protobuf code is left out of it
# (proto/CMakeLists.txt).
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="-O1 -g1" \
  -DCMAKE_UNITY_BUILD=ON "$flag" \
  > "$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
# Only what the selected tests need (each test's target is named as the test;
# scripted tests such as the include rules have none). service_test runs the
# three binaries.
known=$(cmake --build "$build" --target help | awk -F: '{print $1}')
targets=$(for t in $(ctest --test-dir "$build" -N "${select[@]}" | awk '/Test +#[0-9]+:/ {print $3}'); do
  if grep -qx "$t" <<< "$known"; then echo "$t"; fi; done)
[ "$mode" = thread ] && targets="$targets service_test tcobench tcobench-coordinator tcobench-worker"
start=$(date +%s)
cmake --build "$build" -j"$(nproc)" --target $targets > "$build.build.log" 2>&1 || { tail -50 "$build.build.log"; exit 1; }
echo "$mode-sanitized build of $(echo $targets | wc -w) targets: $(( $(date +%s) - start )) s"
rc=0
ctest --test-dir "$build" "${select[@]}" --output-on-failure -j"$(nproc)" || rc=$?
if [ "$mode" = thread ] && [ -n "$(ls -A "$reports")" ]; then
  echo "ThreadSanitizer reports:"
  cat "$reports"/*
  exit 1
fi
exit $rc
