#!/usr/bin/env python3
"""The figures bench/cuda_check.sh measured, read back from its folder.

  cuda_summary.py --line FILE.json   one `model bench --format json` result, one line
  cuda_summary.py OUT_DIR "MODES"    a Markdown table: a row per mode and model
                                     (tests passed, tok/s, J/token, % of bandwidth);
                                     then conformance_test's mean KLD per file and mode

OUT_DIR holds MODE__MODEL__NAME.json (+ in MODE written _; NAME: b1 = prefill and decode at
batch 1 with the bandwidth, b8 = decode of 8 sequences, depth = decode
after the context depth), MODE__conformance.txt (conformance_test's output)
and results.tsv (mode, step, passed|failed).
A figure that was not measured shows as "-", never as a number.
"""
import json
import os
import re
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def rate(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def figure(r, key):
    return rate(r[key]) if r.get(key) else "-"


def joules(r, phase):
    j = r.get(f"{phase}_joules_per_token", 0)
    return f"{j:.3g}" if j else "-"


def line(r):
    parts = []
    if r.get("n_prompt", 0) and r.get("prefill_tokens_per_second", 0):
        parts.append(f"pp{r['n_prompt']} {rate(r['prefill_tokens_per_second'])} tok/s "
                     f"({joules(r, 'prefill')} J/tok)")
    if r.get("n_gen", 0) and r.get("decode_tokens_per_second", 0):
        label = f"tg{r['n_gen']}" + (f" b{r['batch']}" if r.get("batch", 1) > 1 else "")
        if r.get("n_depth", 0):
            label += f" @ d{r['n_depth']}"
        extra = f"{joules(r, 'decode')} J/tok"
        bw = r.get("read_bandwidth_bytes_per_second", 0)
        if bw and r.get("decode_bandwidth_fraction", 0):
            extra += f", {100 * r['decode_bandwidth_fraction']:.1f}% of {bw / 1e9:,.0f} GB/s"
        parts.append(f"{label} {rate(r['decode_tokens_per_second'])} tok/s ({extra})")
    name = os.path.basename(r.get("model", "?"))
    return f"   {name} on {r.get('device', '?')}: " + (" · ".join(parts) or "no figures")


def table(out_dir, modes):
    results = {}
    try:
        with open(os.path.join(out_dir, "results.tsv")) as f:
            for row in f:
                mode, step, result = row.rstrip("\n").split("\t")
                results[(mode, step)] = result
    except OSError:
        pass
    header = ["mode", "model", "backend_test", "conformance", "pp tok/s", "J/tok", "tg b1 tok/s",
              "J/tok", "% of BW", "tg b8 tok/s", "J/tok", "b8 / b1", "tg b1 @ depth"]
    rows = [header, ["---"] * 2 + [":-:"] * 2 + ["---:"] * (len(header) - 4)]
    seen = {}  # the last value of each run setting that some result had
    for mode in modes.split():
        for model in ("F16", "Q4_K_M"):
            stem = os.path.join(out_dir, f"{mode.replace('+', '_')}__{model}__")
            b1, b8, d = (load(stem + name + ".json") or {} for name in ("b1", "b8", "depth"))
            for r in (b1, b8, d):
                seen.update({k: r[k] for k in ("device", "device_description", "n_gen") if r.get(k)})
            seen.update({k: b1[k] for k in ("n_prompt", "read_bandwidth_bytes_per_second") if b1.get(k)})
            if d.get("n_depth"):
                seen["n_depth"] = d["n_depth"]
            t1, t8 = b1.get("decode_tokens_per_second", 0), b8.get("decode_tokens_per_second", 0)
            frac = b1.get("decode_bandwidth_fraction", 0)
            rows.append([
                mode, model,
                results.get((mode, "backend_test"), "-"),
                results.get((mode, "conformance_test"), "-"),
                figure(b1, "prefill_tokens_per_second"), joules(b1, "prefill"),
                figure(b1, "decode_tokens_per_second"), joules(b1, "decode"),
                f"{100 * frac:.1f}%" if frac else "-",
                figure(b8, "decode_tokens_per_second"), joules(b8, "decode"),
                f"{t8 / t1:.2f}x" if t1 and t8 else "-",
                figure(d, "decode_tokens_per_second"),
            ])
    print("\n".join("| " + " | ".join(r) + " |" for r in rows))
    notes = []
    if "device" in seen:
        notes.append(f"device: {seen.get('device_description') or seen['device']}")
    if "n_prompt" in seen:
        notes.append(f"pp = prefill of {seen['n_prompt']} tokens")
    if "n_gen" in seen:
        notes.append(f"tg = decode of {seen['n_gen']} tokens")
    if "n_depth" in seen:
        notes.append(f"depth = after {seen['n_depth']} tokens of context")
    if "read_bandwidth_bytes_per_second" in seen:
        notes.append(f"% of BW = model bytes x tok/s / the "
                     f"{seen['read_bandwidth_bytes_per_second'] / 1e9:,.0f} GB/s measured")
    if notes:
        print("\n" + "; ".join(notes) + ".")
    print("cuda_blocks_test: " + results.get(("all", "cuda_blocks_test"), "-"))
    # Anything but passed or "N skipped, rest passed": failed, timed out.
    failed = [f"{m} {s}" for (m, s), r in sorted(results.items()) if not r.endswith("passed")]
    print("failed: " + (", ".join(failed) if failed else "none"))


KLD_LINE = re.compile(r"^(\S+)\s+mean KLD (\S+) \(limit (\S+)\).*argmax mismatches (\d+)/(\d+)")


def conformance(out_dir, modes):
    """conformance_test's mean KLD against the reference logits, per file and mode."""
    limits, kld = {}, {}
    for mode in modes.split():
        try:
            with open(os.path.join(out_dir, f"{mode.replace('+', '_')}__conformance.txt")) as f:
                for row in f:
                    m = KLD_LINE.match(row)
                    if m:
                        limits[m.group(1)] = m.group(3)
                        kld[(m.group(1), mode)] = f"{m.group(2)} ({m.group(4)}/{m.group(5)})"
        except OSError:
            pass
    if not limits:
        return
    print("\nconformance_test, mean KLD against the reference logits (argmax mismatches / checked):\n")
    header = ["file", "limit"] + modes.split()
    rows = [header, ["---", "---:"] + ["---:"] * len(modes.split())]
    for name in limits:
        rows.append([name, limits[name]] + [kld.get((name, mode), "-") for mode in modes.split()])
    print("\n".join("| " + " | ".join(r) + " |" for r in rows))


def main(argv):
    if len(argv) == 3 and argv[1] == "--line":
        r = load(argv[2])
        if r is None:
            sys.exit(f"cuda_summary: {argv[2]} is not a model bench JSON result")
        print(line(r))
    elif len(argv) == 3:
        table(argv[1], argv[2])
        conformance(argv[1], argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
