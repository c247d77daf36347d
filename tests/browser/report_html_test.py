#!/usr/bin/python3
"""The HTML report in a real browser: headless Chromium loads it with no
console errors and every chart renders (its own colours are on the
screenshot), and the page fetches nothing from the network.

usage: report_html_test.py BIN_DIR
Skips (exit 77) when Debian's chromium or python3-pil is not installed.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77


def main():
    bin_dir = os.path.abspath(sys.argv[1])
    chromium = shutil.which("chromium")
    if chromium is None:
        print("SKIPPED: chromium is not installed (scripts/install-deps.sh --test installs it)")
        return SKIP
    try:
        from PIL import Image
    except ImportError:
        print("SKIPPED: python3-pil is not installed (scripts/install-deps.sh --test installs it)")
        return SKIP
    tcobench = os.path.join(bin_dir, "tcobench")
    work = tempfile.mkdtemp(prefix="tcobench-html-")
    try:
        def run(*args):
            r = subprocess.run([tcobench, *args], cwd=work, capture_output=True, text=True, timeout=300)
            assert r.returncode == 0, "%s: %s%s" % (args, r.stdout, r.stderr)
            return r.stdout

        # A real comparison: a small synthetic model and two of its quantized
        # variants, with KL divergence, measured here.
        run("model", "synth", "m.gguf", "--shape", "ktiny", "--type", "F16")
        with open(os.path.join(work, "text.txt"), "w") as f:
            f.write("The little cat sat on the warm mat and watched the birds fly over the garden. " * 40)
        spec = {
            "name": "browser test", "baseline": "f16",
            "variants": [{"name": "f16", "model": "m.gguf"},
                         {"name": "q8_0", "model": "m.gguf", "quantize": "Q8_0"},
                         {"name": "q4_k_m", "model": "m.gguf", "quantize": "Q4_K_M"}],
            "workload": {"scenario": "SINGLE_STREAM", "promptTokens": 32, "outputTokens": 16,
                         "warmupRuns": 1, "measuredRuns": 12},
            "accuracy": {"perplexity": {"text": "text.txt", "ctx": 64, "maxChunks": 4}, "klDivergence": True},
            "cost": {"hardware": {"cpu": {"usdPerHour": 0.2}}, "load": {"tokensPerDay": 1e6}},
        }
        with open(os.path.join(work, "spec.json"), "w") as f:
            json.dump(spec, f)
        run("run", "spec.json", "--local", "--threads", "1", "--energy", "model", "--cache-dir", "cache",
            "--output", "result.json")
        run("report", "result.json", "--format", "html", "--output", "report.html")
        html = open(os.path.join(work, "report.html"), encoding="utf-8").read()

        # Self-contained: no scripts, stylesheets, images or fonts from anywhere.
        fetches = re.findall(r"""(?:src|href)\s*=\s*['"]?(?!#)[^'"\s>]+|url\(|@import""", html)
        assert not fetches, "the report fetches: %s" % fetches
        charts = re.findall(r"<figure id='(chart-[a-z-]+)'>", html)
        assert charts == ["chart-accuracy-cost", "chart-latency", "chart-cost-breakdown", "chart-energy"], charts

        shot = os.path.join(work, "shot.png")
        r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                            "--enable-logging=stderr", "--v=0", "--window-size=1150,3200",
                            "--screenshot=" + shot, "file://" + os.path.join(work, "report.html")],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and os.path.exists(shot), r.stderr
        console = [l for l in r.stderr.splitlines() if "CONSOLE" in l or "Uncaught" in l]
        assert not console, "console messages: %s" % console

        # Every chart's own colours are on the page.
        img = Image.open(shot).convert("RGB")
        counts = {}
        for c in img.getdata():
            counts[c] = counts.get(c, 0) + 1

        def rgb(h):
            return tuple(int(h[i:i + 2], 16) for i in (1, 3, 5))

        colours = {
            "chart-accuracy-cost": ["#3366cc", "#dc3912", "#ff9900"],   # the three points
            # TTFT and TPOT boxes and whiskers (a box can be narrow: the
            # colours together, not each).
            "chart-latency": ["#9ecae1", "#fdd0a2", "#1f77b4", "#ff7f0e"],
            "chart-cost-breakdown": ["#2ca02c"],                        # hardware bars
            "chart-energy": ["#8c564b"],                                # energy bars
        }
        for chart, hexes in colours.items():
            n = sum(counts.get(rgb(h), 0) for h in hexes)
            assert n >= 20, "%s did not render: %d pixels of %s" % (chart, n, hexes)
        distinct = len(counts)
        assert distinct > 50, "the page looks blank (%d colours)" % distinct
        print("html report: %d bytes, 4 charts rendered, no console errors, nothing fetched" % len(html))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
