#!/usr/bin/env python3
"""The GPU session's scripts, run here on the CPU build, so a GPU session
(15 minutes of device time) never finds them broken:

  bench/cuda_pack.sh   packs the binaries and their shared libraries;
  bench/cuda_check.sh  runs from that pack with --device cpu (the CUDA
                       switches are the GPU's, so every mode runs the CPU
                       engine): the steps, the JSON of each benchmark, the
                       log and the summary table; a failing benchmark fails
                       the run and is named in the summary.

usage: cuda_scripts_test.py SOURCE_DIR BUILD_DIR
"""
import json
import os
import re
import subprocess
import sys
import tempfile

GLIBC = re.compile(r"^(linux-vdso|libc\.so|libm\.so|libpthread\.so|libdl\.so|librt\.so|libresolv\.so|ld-linux)")
failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def write_script(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


def run(cmd, env=None, cwd=None):
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)


def main():
    src, build = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="tcobench-cuda-scripts-")
    pack = os.path.join(tmp, "pack")

    # The pack: the binaries, and libraries that resolve every
    # dependency but the C library's own.
    r = run([os.path.join(src, "bench/cuda_pack.sh"), build, pack], env=dict(os.environ, XZ_LEVEL="1"))
    check(r.returncode == 0, f"cuda_pack.sh exits 0 ({r.stderr.strip()[-300:]})")
    print(r.stdout.strip())
    for b in ("tcobench", "backend_test", "conformance_test"):
        check(os.access(os.path.join(pack, "bin", b), os.X_OK), f"the pack holds bin/{b}")
    check(re.search(r"of the 64 MiB", r.stdout) is not None, "cuda_pack.sh says the pack's size against the limit")
    libs = os.path.join(tmp, "libs")
    os.makedirs(libs)
    r = run(["tar", "-xJf", os.path.join(pack, "libs.tar.xz"), "-C", libs])
    check(r.returncode == 0, "libs.tar.xz unpacks")
    names = sorted(os.listdir(libs))
    check(any(n.startswith("libgrpc++") for n in names) and any(n.startswith("libprotobuf") for n in names),
          "the bundle has gRPC and Protobuf")
    check(not any(GLIBC.match(n) for n in names), "the bundle leaves out the C library's own")
    env = dict(os.environ, LD_LIBRARY_PATH=libs)
    for b in ("tcobench", "backend_test", "conformance_test"):
        r = run(["ldd", os.path.join(pack, "bin", b)], env=env)
        outside = [line.split()[0] for line in r.stdout.splitlines()
                   if "=>" in line and libs not in line and not GLIBC.match(line.split()[0])]
        check(r.returncode == 0 and not outside and "not found" not in r.stdout,
              f"bin/{b}'s libraries all come from the bundle or the C library (outside: {outside})")
    r = run([os.path.join(pack, "bin/tcobench"), "--version"], env=env)
    check(r.returncode == 0 and "tcobench" in r.stdout, "the packed tcobench runs on the bundled libraries")

    # cuda_check.sh from the pack, on the CPU, two modes.
    out = os.path.join(tmp, "out")
    env = dict(os.environ, MODES="staged direct+split+pdl", SHAPE="ktiny", PROMPT="32", DEPTH="64", REPS="1",
               STEPS="backend conformance bench", OUT=out, TMPDIR=tmp)
    r = run([os.path.join(src, "bench/cuda_check.sh"), pack, "/nonexistent", "cpu"], env=env)
    check(r.returncode == 0, "cuda_check.sh exits 0 on the CPU" + ("" if r.returncode == 0 else ":\n" + r.stdout[-3000:]))
    with open(os.path.join(out, "cuda_check.log")) as f:
        log = f.read()
    check(log == r.stdout, "cuda_check.log holds everything it printed")
    for step in ("[staged] backend_test", "[direct+split+pdl] model bench ktiny Q4_K_M", "after 64 tokens of context"):
        check(step in log, f"the log shows the step '{step}'")
    for mode in ("staged", "direct+split+pdl"):
        for name, model, key, value in (("b1", "F16", "n_prompt", 32), ("b8", "Q4_K_M", "batch", 8),
                                        ("depth", "F16", "n_depth", 64)):
            path = os.path.join(out, f"{mode.replace('+', '_')}__{model}__{name}.json")
            try:
                with open(path) as f:
                    j = json.load(f)
                check(j[key] == value and j["decode_tokens_per_second"] > 0,
                      f"{os.path.basename(path)}: {key} {value}, decode measured")
            except (OSError, ValueError, KeyError) as e:
                check(False, f"{os.path.basename(path)} is a model bench result ({e})")
    odd = [n for n in os.listdir(out) if not re.fullmatch(r"[A-Za-z0-9._-]+", n)]
    check(not odd, f"the files it leaves in OUT have plain names (the device tool leaves out odd ones): {odd}")
    with open(os.path.join(out, "summary.md")) as f:
        summary = f.read()
    rows = [line for line in summary.splitlines() if re.match(r"\| (staged|direct\+split\+pdl) \| (F16|Q4_K_M) \|", line)]
    check(len(rows) == 4, f"the summary has a row per mode and model ({len(rows)})")
    number = re.compile(r"^[\d,.]+x?$")
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        check(cells[2] == "passed" and all(number.match(cells[i]) for i in (4, 6, 9, 11)),
              f"summary row {cells[0]} {cells[1]}: backend_test passed, pp, tg b1, tg b8, b8/b1 are figures")
        # Without the shared data conformance_test skips its cases (exit
        # 77), as it skips the libllama ones on a GPU machine: not a failure.
        check(re.fullmatch(r"[1-9]\d* skipped, rest passed", cells[3]) is not None,
              f"summary row {cells[0]} {cells[1]}: conformance_test's skips counted ({cells[3]})")
    check("failed: none" in summary, "the summary names no failure")
    blocks = "passed" if os.path.exists(os.path.join(pack, "bin", "cuda_blocks_test")) else "-"
    check(f"cuda_blocks_test: {blocks}" in summary, f"the summary says how cuda_blocks_test went ({blocks})")

    # On the bundled libraries (as where the machine lacks them).
    out3 = os.path.join(tmp, "out3")
    r = run([os.path.join(src, "bench/cuda_check.sh"), pack, "/nonexistent", "cpu"],
            env=dict(env, CUDA_CHECK_BUNDLE="1", STEPS="backend", MODES="staged", OUT=out3))
    check(r.returncode == 0 and "using the shared libraries bundled in" in r.stdout,
          "cuda_check.sh runs the tests on the bundled libraries" + ("" if r.returncode == 0 else ":\n" + r.stdout[-2000:]))

    # A mode that fails backend_test: the run tells which part is at fault
    # and runs the device case under compute-sanitizer (fakes of both: on
    # this backend_test, split attention is broken).
    fake = os.path.join(tmp, "fake")
    os.makedirs(os.path.join(fake, "bin"))
    for b in os.listdir(os.path.join(pack, "bin")):
        os.symlink(os.path.join(pack, "bin", b), os.path.join(fake, "bin", b))
    os.remove(os.path.join(fake, "bin", "backend_test"))
    write_script(os.path.join(fake, "bin", "backend_test"), """#!/bin/sh
case "$FAKE_FAULT" in
  split) [ "$TCOBENCH_CUDA_ATTENTION" = split ] && { echo "device_matches_cpu: logits differ"; exit 201; } ;;
  hang) sleep 30 ;;
esac
exit 0
""")
    sanitizer = os.path.join(tmp, "compute-sanitizer")
    write_script(sanitizer, """#!/bin/sh
echo "fake sanitizer: $* with $TCOBENCH_CUDA_MATVEC $TCOBENCH_CUDA_ATTENTION pdl=$TCOBENCH_CUDA_PDL"
""")
    out4 = os.path.join(tmp, "out4")
    r = run([os.path.join(src, "bench/cuda_check.sh"), fake, "/nonexistent", "cpu"],
            env=dict(env, FAKE_FAULT="split", SANITIZER=sanitizer, STEPS="backend", MODES="direct+split+pdl", OUT=out4))
    check(r.returncode == 1, f"a mode failing backend_test makes cuda_check.sh exit 1 ({r.returncode})")
    for line in ("backend_test [direct+pdl]: passed", "backend_test [direct+split]: failed",
                 "backend_test [direct-unfused+split+pdl]: failed"):
        check(line in r.stdout, f"the part at fault is found: '{line}'")
    try:
        with open(os.path.join(out4, "direct_split_pdl__memcheck.txt")) as f:
            memcheck = f.read()
    except OSError:
        memcheck = ""
    check("--tool memcheck" in memcheck and "--run_test=device_matches_cpu" in memcheck and
          "with direct split pdl=1" in memcheck, f"memcheck ran on the device case in the failing mode ({memcheck.strip()})")
    failed_line = next((line for line in r.stdout.splitlines() if line.startswith("failed: ")), "")
    check("direct+split+pdl backend_test" in failed_line and "direct+pdl" not in failed_line,
          f"the summary names the failing mode's test ({failed_line})")
    out5 = os.path.join(tmp, "out5")
    r = run([os.path.join(src, "bench/cuda_check.sh"), fake, "/nonexistent", "cpu"],
            env=dict(env, FAKE_FAULT="hang", SANITIZER="", STEPS="backend", MODES="staged", TEST_TIMEOUT="2",
                     OUT=out5))
    check(r.returncode == 1 and "still running after 2s, stopped" in r.stdout and
          "| staged | F16 | timed out |" in r.stdout and "failed: staged backend_test" in r.stdout,
          "a test that hangs is stopped and shows as timed out, among the failures")

    # The conformance table: conformance_test's lines per mode, read back.
    out6 = os.path.join(tmp, "out6")
    os.makedirs(out6)
    line = "{:<20s} mean KLD {} (limit 4.791e-08)  max |dlogit| 6.08e-04  argmax mismatches {}/57 (limit 0)\n"
    with open(os.path.join(out6, "staged__conformance.txt"), "w") as f:
        f.write("Running 5 test cases...\n" + line.format("ktiny-F16", "6.199e-09", 0))
    with open(os.path.join(out6, "direct_split__conformance.txt"), "w") as f:
        f.write(line.format("ktiny-F16", "7.000e-08", 2))
    r = run(["python3", os.path.join(src, "bench/cuda_summary.py"), out6, "staged direct+split"])
    check("| ktiny-F16 | 4.791e-08 | 6.199e-09 (0/57) | 7.000e-08 (2/57) |" in r.stdout,
          "the summary tabulates conformance_test's KLD per file and mode")

    # A benchmark that fails fails the run and is named.
    out2 = os.path.join(tmp, "out2")
    env.update(MODES="staged", DEPTH="-1", STEPS="bench", OUT=out2)
    r = run([os.path.join(src, "bench/cuda_check.sh"), pack, "/nonexistent", "cpu"], env=env)
    check(r.returncode == 1, f"a failing benchmark makes cuda_check.sh exit 1 ({r.returncode})")
    check("failed: staged bench F16 depth" in r.stdout, "the summary names the failed benchmark")

    subprocess.run(["rm", "-rf", tmp])
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
