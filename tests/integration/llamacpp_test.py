#!/usr/bin/python3
"""The llama.cpp runtime through the service: a coordinator and a worker
with the libllama of scripts/build-llama-cpp.sh run one comparison of two
variants of ../shared's stories260K, one on the embedded engine and one on
llama.cpp.

Checks: both rows measured (TTFT, TPOT, throughput) with the same energy
source; the llamacpp row's perplexity equals llama-perplexity's on the same
file and chunks to 4 significant figures; its KL divergence against the
engine baseline is within the conformance tolerance with top-1 agreement;
the manifest names the libllama, its system info and settings; a bad
--llama-lib (missing file, not a libllama, another llama.cpp release)
makes the worker and `run --local` exit 2 with one line naming it.

usage: llamacpp_test.py BIN_DIR SHARED_DIR FAKE_LIBLLAMA HAVE_LLAMACPP
Exits 77 (ctest: Skipped) when this build has no llama.cpp runtime, the
library or llama-perplexity is missing, or ../shared is missing.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from procs import Cluster, llama_dir  # noqa: E402

SKIP = 77
TEXT = "TinyStories-valid.head32k.txt"
CTX, CHUNKS = 128, 8


def llama_perplexity(model, text):
    # llama.cpp v0.5.0's tools log through a thread they never join (common/log.cpp
    # leaks the logger on purpose): about one run in three exits 0 before the
    # final line is written. Such a run is repeated.
    for _ in range(10):
        r = subprocess.run([os.path.join(llama_dir(), "bin", "llama-perplexity"), "-m", model, "-f", text,
                            "-c", str(CTX), "--chunks", str(CHUNKS), "-t", "2"], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        m = re.search(r"Final estimate: PPL = ([0-9.]+)", r.stdout + r.stderr)
        if m:
            return float(m.group(1))
    raise AssertionError("llama-perplexity never printed its final estimate:\n" + r.stdout + r.stderr)


def spec():
    return {"name": "engine-vs-llamacpp", "baseline": "engine",
            "variants": [{"name": "engine", "model": "stories260K.gguf"},
                         {"name": "llamacpp", "model": "stories260K.gguf", "runtime": "llamacpp",
                          "llamacpp": {"batch": 512, "flashAttention": "auto", "kvCacheType": "f16"}}],
            "workload": {"scenario": "SINGLE_STREAM", "promptTokens": 32, "outputTokens": 32, "warmupRuns": 2,
                         "measuredRuns": 10},
            "accuracy": {"perplexity": {"text": TEXT, "ctx": CTX, "maxChunks": CHUNKS}, "klDivergence": True}}


def bad_library_exits_2(cluster, addr, spec_path, lib, expect):
    """The worker and run --local refuse `lib` with exit 2 and `expect` in
    their one-line error."""
    w = subprocess.run([os.path.join(cluster.bin_dir, "tcobench-worker"), "--coordinator", addr, "--name", "bad",
                        "--model-root", cluster.work, "--metrics-listen", "none", "--llama-lib", lib],
                       capture_output=True, text=True, timeout=60)
    assert w.returncode == 2 and expect in w.stderr and lib in w.stderr, (w.returncode, w.stderr)
    assert len(w.stderr.strip().split("\n")) == 1, w.stderr
    rc, out = cluster.cli("run", spec_path, "--local", "--model-root", cluster.work, "--data-root", cluster.work,
                          "--cache-dir", os.path.join(cluster.work, "cache"), "--llama-lib", lib)
    assert rc == 2 and expect in out, (rc, out)
    print("refused %s: %s" % (os.path.basename(lib), w.stderr.strip()))


def main():
    bin_dir, shared, fake_libllama, have = sys.argv[1:5]
    model = os.path.join(shared, "models", "stories260K.gguf")
    text = os.path.join(shared, "data", "tinystories", TEXT)
    lib = os.path.join(llama_dir(), "lib", "libllama.so")
    if have != "ON":
        print("SKIP: this build has no llama.cpp runtime (scripts/build-llama-cpp.sh, then rebuild)")
        return SKIP
    for need in (lib, os.path.join(llama_dir(), "bin", "llama-perplexity")):
        if not os.path.exists(need):
            print("SKIP: %s missing (scripts/build-llama-cpp.sh)" % need)
            return SKIP
    if not os.path.exists(model) or not os.path.exists(text):
        print("SKIP: %s or %s missing (set TCOBENCH_SHARED_DIR)" % (model, text))
        return SKIP
    work = tempfile.mkdtemp(prefix="tcobench-llamacpp-")
    cluster = Cluster(bin_dir, work)
    try:
        shutil.copy(model, os.path.join(work, "stories260K.gguf"))
        shutil.copy(text, os.path.join(work, TEXT))
        spec_path = os.path.join(work, "spec.json")
        with open(spec_path, "w") as f:
            json.dump(spec(), f)
        addr = cluster.coordinator()
        cluster.worker("w", addr, "--llama-lib", lib, "--energy", "auto", "--threads", "2")

        rc, out = cluster.cli("submit", spec_path, "--wait", "--coordinator", addr, timeout=600)
        assert rc == 0, out + cluster.log("w")
        cid = out.split("\n")[0].strip()
        rc, out = cluster.cli("report", cid, "--format", "json", "--coordinator", addr)
        assert rc == 0, out
        rep = json.loads(out)
        rows = {r["variant"]: r for r in rep["result"]["results"]}
        assert set(rows) == {"engine", "llamacpp"}, rows.keys()
        assert rows["llamacpp"]["runtime"] == "llamacpp" and rows["engine"]["runtime"] == "engine"
        for name, r in rows.items():
            lat, th, e = r["latency"], r["throughput"], r["energy"]
            assert lat["ttft_seconds"]["p50"] > 0 and lat["tpot_seconds"]["p50"] > 0, lat
            assert th["decode_tokens_per_second"] > 0 and th["prefill_tokens_per_second"] > 0, th
            assert len(r["samples"]) >= 10 and all(s["output_tokens"] == 32 for s in r["samples"])
            assert e["source"] in ("rapl", "model") and e["joules_per_token"] > 0, e
            print("%-8s TTFT p50 %.2f ms, TPOT p50 %.3f ms, prefill %.0f tok/s, decode %.0f tok/s, %.3g J/token (%s)" % (
                name, 1e3 * lat["ttft_seconds"]["p50"], 1e3 * lat["tpot_seconds"]["p50"],
                th["prefill_tokens_per_second"], th["decode_tokens_per_second"], e["joules_per_token"], e["source"]))
        assert rows["engine"]["energy"]["source"] == rows["llamacpp"]["energy"]["source"], "one meter for both"

        ref = llama_perplexity(model, text)
        ppl = rows["llamacpp"]["accuracy"]["perplexity"]
        assert int(ppl["chunks"]) == CHUNKS, ppl
        print("perplexity: llamacpp %.6f, engine %.6f, llama-perplexity %.4f" % (
            ppl["ppl"], rows["engine"]["accuracy"]["perplexity"]["ppl"], ref))
        assert "%.4g" % ppl["ppl"] == "%.4g" % ref, (ppl["ppl"], ref)
        kld = rows["llamacpp"]["accuracy"]["kld"]
        print("KLD engine -> llamacpp: mean %.3g, top-1 %.4f over %s tokens" % (
            kld["mean_kld"], kld["same_top1"], kld["scored_tokens"]))
        # 4x the reference's own settings variation for stories260K (the conformance tolerance).
        assert kld["applicable"] and 0 <= kld["mean_kld"] < 4.9e-6 and kld["same_top1"] >= 0.99, kld

        # Each job's manifest describes the variant it measured.
        models = {m["variant"]: m for jm in rep["result"]["job_manifests"] for m in jm["models"] if m["runtime"]}
        m = models["llamacpp"]
        assert m["runtime"] == "llamacpp" and "0.5.0" in m["runtime_build"] and lib in m["runtime_build"], m
        assert "CPU" in m["runtime_system_info"] and "batch=512" in m["runtime_options"], m
        assert models["engine"]["runtime"] == "engine", models["engine"]
        cost = {r["variant"]: r for r in rep["cost"]["rows"]}
        assert abs(cost["llamacpp"]["ppl_ratio"] - ppl["ppl"] / rows["engine"]["accuracy"]["perplexity"]["ppl"]) < 1e-9

        # The text report puts the two runtimes side by side with ratios.
        rc, text = cluster.cli("report", cid, "--coordinator", addr)
        assert rc == 0 and "engine vs llama.cpp on the same file" in text, text
        line = [l for l in text.split("\n") if l.startswith("stories260K.gguf ")]
        assert len(line) == 1 and line[0].count("x ") >= 2, text
        print(line[0])

        # Workers list the runtime and the library.
        workers = cluster.cli_json("workers", "--coordinator", addr)
        inv = [w["inventory"] for w in workers.get("workers", []) if w["inventory"]["name"] == "w"][0]
        assert "llamacpp" in inv["runtimes"] and "0.5.0" in inv["llama_cpp_build"], inv
        rc, table = cluster.cli("workers", "--coordinator", addr)
        assert rc == 0 and "engine,llamacpp 0.5.0" in table, table

        not_elf = os.path.join(work, "libllama-text.so")
        with open(not_elf, "w") as f:
            f.write("not a library\n")
        bad_library_exits_2(cluster, addr, spec_path, os.path.join(work, "missing", "libllama.so"), "no such file")
        bad_library_exits_2(cluster, addr, spec_path, not_elf, "cannot load")
        bad_library_exits_2(cluster, addr, spec_path, fake_libllama, "0.4.0")
        print("llamacpp_test: ok")
        return 0
    finally:
        cluster.finish()


if __name__ == "__main__":
    sys.exit(main())
