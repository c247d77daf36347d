#!/usr/bin/env python3
"""Clang's thread-safety analysis over the annotated code.

thread_safety_check.py BUILD_DIR
    Takes each project source in BUILD_DIR/compile_commands.json that uses
    the annotations (ABSL_GUARDED_BY and friends, common/base/mutex.h), by
    itself or through a project header it includes, and compiles it with
    clang++ -fsyntax-only -Wthread-safety -Werror. g++ ignores the
    annotations; this is what makes them checked. Exits 77 (skipped) without
    clang++, 1 on any finding, naming file and line.

thread_safety_check.py --self-test BUILD_DIR
    Compiles a small file that reads a guarded member without its lock and
    expects clang to refuse it.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

SKIP = 77
ANNOTATED = re.compile(r"ABSL_(GUARDED_BY|PT_GUARDED_BY|EXCLUSIVE_LOCKS_REQUIRED|LOCKS_EXCLUDED)|\bMutexLock\b")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def clang():
    return shutil.which("clang++") or shutil.which("clang++-14")


def uses_annotations(path, source_root, seen=None):
    seen = seen if seen is not None else set()
    if path in seen or not os.path.exists(path):
        return False
    seen.add(path)
    text = open(path, encoding="utf-8", errors="replace").read()
    if ANNOTATED.search(text):
        return True
    return any(uses_annotations(os.path.join(source_root, inc), source_root, seen) for inc in INCLUDE.findall(text))


def clang_command(entry, compiler):
    args = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
    out = [compiler]
    skip = False
    for a in args[1:]:
        if skip:
            skip = False
            continue
        if a in ("-o", "-MF", "-MT", "-MQ"):
            skip = True
            continue
        if a in ("-c", "-MD", "-MMD") or a == entry["file"]:
            continue
        out.append(a)
    return out + ["-fsyntax-only", "-Wthread-safety", "-Werror=thread-safety", "-Wno-unknown-warning-option",
                  entry["file"]]


def check_one(entry, compiler):
    r = subprocess.run(clang_command(entry, compiler), cwd=entry["directory"], capture_output=True, text=True)
    findings = [line for line in r.stderr.splitlines() if "thread-safety" in line or "error:" in line]
    return entry["file"], r.returncode, findings, r.stderr


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--self-test":
        return self_test(sys.argv[2])
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    compiler = clang()
    if compiler is None:
        print("SKIPPED: clang++ is not installed (scripts/install-deps.sh installs it)")
        return SKIP
    build = os.path.abspath(sys.argv[1])
    source_root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    entries = json.load(open(os.path.join(build, "compile_commands.json")))
    chosen = []
    for e in entries:
        f = os.path.abspath(os.path.join(e["directory"], e["file"]))
        rel = os.path.relpath(f, source_root)
        if rel.startswith(("common/", "services/", "workers/")) and uses_annotations(f, source_root):
            chosen.append(e)
    failed = 0
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for f, rc, findings, stderr in pool.map(lambda e: check_one(e, compiler), chosen):
            if rc != 0:
                failed += 1
                print("%s:\n%s" % (os.path.relpath(f, source_root), stderr.strip()))
    print("%d annotated sources checked with %s -Wthread-safety: %d with findings" %
          (len(chosen), os.path.basename(compiler), failed))
    if not chosen:
        print("no annotated sources found: is %s a configured build?" % build)
        return 1
    return 1 if failed else 0


def self_test(build):
    compiler = clang()
    if compiler is None:
        print("SKIPPED: clang++ is not installed")
        return SKIP
    source_root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    with tempfile.TemporaryDirectory() as work:
        bad = os.path.join(work, "bad.cc")
        with open(bad, "w") as f:
            f.write('#include "common/base/mutex.h"\n'
                    "struct Counter {\n  tcobench::Mutex mu;\n  int n ABSL_GUARDED_BY(mu) = 0;\n"
                    "  void Bump() { ++n; }  // no lock\n};\n")
        r = subprocess.run([compiler, "-std=c++20", "-fsyntax-only", "-Wthread-safety", "-Werror=thread-safety",
                            "-I", source_root, bad], capture_output=True, text=True)
    if r.returncode == 0 or "requires holding mutex 'mu'" not in r.stderr:
        print("self-test: clang accepted an unguarded write:\n%s" % r.stderr)
        return 1
    print("self-test: refused as expected: %s" % [l for l in r.stderr.splitlines() if "error" in l][0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
