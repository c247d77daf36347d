#!/usr/bin/env python3
"""bench/side_by_side.sh and side_by_side.py, run on the CPU build with a
stand-in for llama-bench (it records its arguments and prints a result of
llama-bench's JSON shape), so the table RESULTS.md quotes is made the way it
says:

  - the settings (SHAPE, TYPES, PROMPT, GEN, DEPTH) reach both tools and
    name the columns;
  - BEFORE runs an older build in the same sittings and adds after/before
    columns, whose ratio is the median of the per-sitting ratios;
  - without BEFORE the table has no such columns; a bad BEFORE is refused.

usage: side_by_side_test.py SOURCE_DIR BUILD_DIR
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def main():
    src, build = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="tcobench-side-by-side-")
    calls = os.path.join(tmp, "llama-bench-calls")
    fake = os.path.join(tmp, "llama-bench")
    # pp at 100 tok/s, tg at 10: known figures for the ratio columns.
    with open(fake, "w") as f:
        f.write(f"""#!/usr/bin/env python3
import json, sys
a = sys.argv[1:]
open({calls!r}, "a").write(" ".join(a) + "\\n")
val = lambda flag: int(a[a.index(flag) + 1])
rows = [dict(n_prompt=val("-p"), n_gen=0, n_depth=val("-d"), samples_ts=[90.0, 100.0, 110.0]),
        dict(n_prompt=0, n_gen=val("-n"), n_depth=val("-d"), samples_ts=[10.0])]
print(json.dumps(rows))
""")
    os.chmod(fake, 0o755)
    tcobench = os.path.join(build, "bin", "tcobench")
    env = dict(os.environ, LLAMA_BENCH=fake, TCOBENCH=tcobench, SHAPE="ktiny", TYPES="F32 Q8_0",
               PROMPT="8", GEN="4", DEPTH="16", BEFORE=tcobench)
    work = os.path.join(tmp, "work")
    r = subprocess.run([os.path.join(src, "bench/side_by_side.sh"), work, "2", "1"], env=env,
                       capture_output=True, text=True)
    check(r.returncode == 0, f"side_by_side.sh exits 0 ({r.stderr.strip()[-300:]})")
    table = r.stdout
    print(table)
    lines = open(calls).read().splitlines() if os.path.exists(calls) else []
    check(len(lines) == 4, f"llama-bench ran once per sitting and type ({len(lines)} calls)")
    check(all(" -p 8 -n 4 -d 16 -r 1 " in l + " " and "/ktiny-" in l for l in lines),
          "llama-bench got the shape's file and -p 8 -n 4 -d 16 -r 1")
    runs = os.path.join(work, "runs")
    for name in ("tcb-F32-1.json", "tcb-Q8_0-2.json", "before-F32-1.json", "before-Q8_0-2.json"):
        path = os.path.join(runs, name)
        ok = os.path.exists(path)
        if ok:
            res = json.load(open(path))
            ok = res["n_prompt"] == 8 and res["n_gen"] == 4 and res["n_depth"] == 16
        check(ok, f"{name}: a model bench run with -p 8 -n 4 -d 16")
    header = table.splitlines()[0] if table else ""
    check("tcobench pp8 @ d16 tok/s" in header and "llama.cpp tg4 @ d16" in header,
          "the columns are named from the runs' settings")
    check("after / before pp (range)" in header, "BEFORE adds the after/before columns")
    rows = [l for l in table.splitlines() if l.startswith("| F32 ") or l.startswith("| Q8_0 ")]
    check(len(rows) == 2, "a row per type")
    if rows:
        cells = [c.strip() for c in rows[0].strip("|").split("|")]
        check(cells[2] == "100.00" and cells[5] == "10.00", "llama-bench's medians are read (100 and 10 tok/s)")
        # After/before: the median of the per-sitting ratios of the two runs.
        ratios = []
        for n in (1, 2):
            after = json.load(open(os.path.join(runs, f"tcb-F32-{n}.json")))["prefill_tokens_per_second"]
            before = json.load(open(os.path.join(runs, f"before-F32-{n}.json")))["prefill_tokens_per_second"]
            ratios.append(after / before)
        want = f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}–{max(ratios):.2f})"
        check(cells[11] == want, f"after/before pp is the median of the sittings' ratios ({cells[11]}, want {want})")
        check(len(cells) == 14, f"14 columns with BEFORE ({len(cells)})")

    # The formatter alone, without an older build's runs: no such columns.
    for name in os.listdir(runs):
        if name.startswith("before-"):
            os.remove(os.path.join(runs, name))
    r = subprocess.run([os.path.join(src, "bench/side_by_side.py"), runs, "F32"], capture_output=True, text=True)
    check(r.returncode == 0 and "before" not in r.stdout and r.stdout.count("|") > 10,
          "without before-*.json the table has no after/before columns")

    env["BEFORE"] = os.path.join(tmp, "no-such-tcobench")
    r = subprocess.run([os.path.join(src, "bench/side_by_side.sh"), work, "1", "1"], env=env,
                       capture_output=True, text=True)
    check(r.returncode != 0 and "BEFORE=" in r.stderr, "a BEFORE that is not an executable is refused, named")

    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)


if __name__ == "__main__":
    main()
