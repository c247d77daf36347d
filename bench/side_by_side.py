#!/usr/bin/env python3
"""Formats side-by-side speed runs as the Markdown table of bench/RESULTS.md.

Usage: bench/side_by_side.py DIR TYPE...
DIR holds, per TYPE and sitting N (1, 2, ...), tcb-TYPE-N.json (`tcobench
model bench --format json`) and llb-TYPE-N.json (`llama-bench -o json` on the
same file, run right before it), and optionally before-TYPE-N.json (an older
tcobench build on the same file in the same sitting). The machine is shared
and noisy, so each ratio is taken within one sitting and the table gives the
median over the sittings, with the range of the per-sitting ratios. The
column names come from the runs' own settings (prompt, generated tokens,
context depth).
"""
import glob
import json
import statistics
import sys


def reference(path):
    pp = tg = None
    try:
        for row in json.load(open(path)):
            med = statistics.median(row["samples_ts"])
            if row["n_prompt"] > 0:
                pp = med
            else:
                tg = med
    except FileNotFoundError:
        pass
    return pp, tg


def add_pair(mine, theirs, values, ratios):
    """Records the other side's figure and our ratio to it, where it has one."""
    if theirs:
        values.append(theirs)
        ratios.append(mine / theirs)


def ratio_cell(ratios):
    if not ratios:
        return "—"
    return f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}–{max(ratios):.2f})"


def main():
    folder, types = sys.argv[1], sys.argv[2:]
    first = sorted(glob.glob(f"{folder}/tcb-*.json"))
    if not first:
        sys.exit(f"side_by_side.py: no tcb-*.json runs in {folder}")
    settings = json.load(open(first[0]))
    at = f" @ d{settings['n_depth']}" if settings.get("n_depth", 0) else ""
    pp_name, tg_name = f"pp{settings['n_prompt']}{at}", f"tg{settings['n_gen']}{at}"
    with_before = bool(glob.glob(f"{folder}/before-*.json"))
    before_head = (f" before pp | after / before pp (range) | before tg | after / before tg (range) |"
                   if with_before else "")
    print(f"| type | tcobench {pp_name} tok/s | llama.cpp {pp_name} | pp ratio (range) | tcobench {tg_name} tok/s "
          f"| llama.cpp {tg_name} | tg ratio (range) | decode / bandwidth limit | peak RSS / (file + KV) "
          f"| load s/GB |{before_head}")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" * 4 if with_before else ""))
    for t in types:
        runs = sorted(glob.glob(f"{folder}/tcb-{t}-*.json"))
        pp, tg, ref_pp, ref_tg, pp_r, tg_r, frac, rss, load = ([] for _ in range(9))
        old_pp, old_tg, old_pp_r, old_tg_r = ([] for _ in range(4))
        for path in runs:
            n = path.rsplit("-", 1)[1]
            tcb = json.load(open(path))
            rpp, rtg = reference(f"{folder}/llb-{t}-{n}")
            pp.append(tcb["prefill_tokens_per_second"])
            tg.append(tcb["decode_tokens_per_second"])
            add_pair(pp[-1], rpp, ref_pp, pp_r)
            add_pair(tg[-1], rtg, ref_tg, tg_r)
            if with_before:
                old = json.load(open(f"{folder}/before-{t}-{n}"))
                add_pair(pp[-1], old["prefill_tokens_per_second"], old_pp, old_pp_r)
                add_pair(tg[-1], old["decode_tokens_per_second"], old_tg, old_tg_r)
            if tcb["read_bandwidth_bytes_per_second"] > 0:
                frac.append((tcb["decode_bandwidth_fraction"], tcb["read_bandwidth_bytes_per_second"]))
            rss.append(tcb["peak_rss_bytes"] / (tcb["file_bytes"] + tcb["kv_cache_bytes"]))
            load.append(tcb["load_seconds"] / (tcb["file_bytes"] / 1e9))
        med = lambda xs: f"{statistics.median(xs):.2f}" if xs else "—"
        bw = "—"
        if frac:
            f, b = sorted(frac)[len(frac) // 2]
            bw = f"{100 * f:.0f}% of {b / 1e9:.1f} GB/s"
        before_cells = (f" {med(old_pp)} | {ratio_cell(old_pp_r)} | {med(old_tg)} | {ratio_cell(old_tg_r)} |"
                        if with_before else "")
        print(f"| {t} | {med(pp)} | {med(ref_pp)} | {ratio_cell(pp_r)} | {med(tg)} | {med(ref_tg)} "
              f"| {ratio_cell(tg_r)} | {bw} | {max(rss):.3f} | {max(load):.3f} |{before_cells}")
    print(f"\n{len(runs)} sittings per type; tok/s columns are medians over sittings of each run's "
          "median of -r repetitions.")


if __name__ == "__main__":
    main()
