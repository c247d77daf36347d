#!/usr/bin/env python3
"""Formats side-by-side speed runs as the Markdown table of bench/RESULTS.md.

Usage: bench/side_by_side.py DIR TYPE...
DIR holds, per TYPE, tcb-TYPE.json (`tcobench model bench --format json`)
and optionally llb-TYPE.json (`llama-bench -o json` on the same file, run
right before it on the same machine).
"""
import json
import statistics
import sys


def spread(xs):
    return max(xs) - min(xs) if xs else 0.0


def main():
    folder, types = sys.argv[1], sys.argv[2:]
    print("| type | tcobench pp128 tok/s (spread) | llama.cpp pp128 | ratio | tcobench tg32 tok/s (spread) "
          "| llama.cpp tg32 | ratio | decode / bandwidth limit | peak RSS / (file + KV) | load s/GB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for t in types:
        tcb = json.load(open(f"{folder}/tcb-{t}.json"))
        pp, tg = tcb["prefill_tokens_per_second"], tcb["decode_tokens_per_second"]
        ref_pp = ref_tg = None
        try:
            for row in json.load(open(f"{folder}/llb-{t}.json")):
                med = statistics.median(row["samples_ts"])
                if row["n_prompt"] > 0:
                    ref_pp = med
                else:
                    ref_tg = med
        except FileNotFoundError:
            pass
        fmt = lambda x: f"{x:.2f}" if x is not None else "—"
        ratio = lambda a, b: f"{a / b:.2f}x" if b else "—"
        rss = tcb["peak_rss_bytes"] / (tcb["file_bytes"] + tcb["kv_cache_bytes"])
        print(f"| {t} | {pp:.2f} ({spread(tcb['prefill_samples']):.2f}) | {fmt(ref_pp)} | {ratio(pp, ref_pp)} "
              f"| {tg:.2f} ({spread(tcb['decode_samples']):.2f}) | {fmt(ref_tg)} | {ratio(tg, ref_tg)} "
              f"| {100 * tcb['decode_bandwidth_fraction']:.0f}% of {tcb['read_bandwidth_bytes_per_second'] / 1e9:.1f} GB/s "
              f"| {rss:.3f} | {tcb['load_seconds'] / (tcb['file_bytes'] / 1e9):.3f} |")


if __name__ == "__main__":
    main()
