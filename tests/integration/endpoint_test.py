#!/usr/bin/python3
"""Endpoints against a server nobody here wrote: llama.cpp's llama-server
(built by scripts/build-llama-cpp.sh from node-llama-cpp 3.22.1) on
../shared's stories260K, a coordinator and a worker advertising it.

Checks: a SERVER sweep and a concurrency sweep complete with a capacity;
output token counts equal the server's usage; at concurrency 1 our TPOT is
within 10% of the server's own timings.predicted_per_token_ms; a spec naming
an endpoint no worker advertises stays queued with a reason; a server
killed mid-run gives counted errors (a failed or partial result, never a
silent one).

usage: endpoint_test.py BIN_DIR SHARED_DIR
Exits 77 (ctest: Skipped) when llama-server or ../shared is missing.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from procs import Cluster, free_port, llama_dir, wait_for  # noqa: E402

SKIP = 77


def start_server(cluster, model, port, name="llama-server"):
    server = os.path.join(llama_dir(), "bin", "llama-server")
    p = cluster.start(name, [server, "-m", model, "--host", "127.0.0.1", "--port", str(port), "-c", "4096",
                             "-np", "8", "-t", "1", "--no-webui"])

    def healthy():
        with urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=2) as r:
            return r.status == 200
    wait_for("llama-server", lambda: p.poll() is not None or healthy(), timeout=60)
    assert p.poll() is None, cluster.log(name)
    return p


def spec(name, endpoint, workload, slo=None):
    return {"name": name, "baseline": "server",
            "variants": [{"name": "server", "runtime": "openai", "endpoint": endpoint, "api": "completions",
                          "tokenizer": "stories260K.gguf"}],
            "workload": workload,
            "cost": {"slo": slo or {"ttftP99Seconds": 1.0, "tpotP99Seconds": 0.05}}}


def submit(cluster, addr, s, wait=True):
    path = os.path.join(cluster.work, s["name"] + ".json")
    with open(path, "w") as f:
        json.dump(s, f)
    rc, out = cluster.cli("submit", path, *(["--wait"] if wait else []), "--coordinator", addr, timeout=600)
    return rc, out, out.split("\n")[0].strip()


def report(cluster, addr, cid):
    rc, out = cluster.cli("report", cid, "--format", "json", "--coordinator", addr)
    assert rc == 0, out
    return json.loads(out)


def main():
    bin_dir, shared = sys.argv[1], sys.argv[2]
    model = os.path.join(shared, "models", "stories260K.gguf")
    if not os.path.exists(os.path.join(llama_dir(), "bin", "llama-server")):
        print("SKIP: llama-server not built (scripts/build-llama-cpp.sh)")
        return SKIP
    if not os.path.exists(model):
        print("SKIP: %s missing (set TCOBENCH_SHARED_DIR)" % model)
        return SKIP
    work = tempfile.mkdtemp(prefix="tcobench-endpoint-")
    cluster = Cluster(bin_dir, work)
    try:
        shutil.copy(model, os.path.join(work, "stories260K.gguf"))  # symlinks out of the root are refused
        port = free_port()
        start_server(cluster, model, port)
        addr = cluster.coordinator()
        cluster.worker("w", addr, "--endpoint", "local=http://127.0.0.1:%d/v1" % port, "--energy", "auto")

        # A SERVER sweep: rows per rate, a capacity, counts from usage.
        rc, out, cid = submit(cluster, addr, spec("server-sweep", "local", {
            "scenario": "SERVER", "promptTokens": 32, "outputTokens": 32, "warmupRuns": 2, "measuredRuns": 30,
            "targetQps": [2, 8, 32]}))
        assert rc == 0, out + cluster.log("w")
        rows = report(cluster, addr, cid)["result"]["results"]
        assert 1 <= len(rows) <= 3, rows
        for r in rows:
            load = r["load"]
            assert load["token_count_source"] == "usage", load
            assert int(load["failed"]) == 0, load
            assert all(s["output_tokens"] == 32 for s in r["samples"]), "output lengths differ from usage"
            print("SERVER %5.1f req/s: goodput %.2f/s, TTFT p99 %.1f ms, TPOT p99 %.2f ms, errors %d%s" % (
                r["target_qps"], load["goodput_requests_per_second"], 1e3 * r["latency"]["ttft_seconds"]["p99"],
                1e3 * r["latency"]["tpot_seconds"]["p99"], int(load["failed"]), " CAPACITY" if load["capacity"] else ""))
        assert sum(1 for r in rows if r["load"]["capacity"]) == 1, "the sweep names one capacity"

        # A concurrency sweep; at one user our TPOT matches the server's own.
        rc, out, cid = submit(cluster, addr, spec("users-sweep", "local", {
            "scenario": "CONCURRENCY", "promptTokens": 16, "outputTokens": 128, "warmupRuns": 2,
            "measuredRuns": 12, "concurrency": [1, 4]}))
        assert rc == 0, out + cluster.log("w")
        rows = report(cluster, addr, cid)["result"]["results"]
        assert len(rows) == 2, rows
        # Request by request: our (e2e - TTFT) / (n - 1) against the server's
        # own (last token - first token) / (n - 1) for the same request.
        ratios = sorted(s["tpot_seconds"] / s["server_tpot_seconds"] for s in rows[0]["samples"]
                        if s["server_tpot_seconds"] > 0)
        assert len(ratios) == len(rows[0]["samples"]), "the server reported timings for every request"
        median = ratios[len(ratios) // 2]
        print("concurrency 1: our TPOT / llama-server's predicted_per_token_ms, per request: median %.3f "
              "(min %.3f, max %.3f, %d requests)" % (median, ratios[0], ratios[-1], len(ratios)))
        assert abs(median - 1) < 0.10, ratios
        for r in rows:
            print("CONCURRENCY %d: goodput %.2f/s, TPOT p99 %.2f ms, client CPU %.0f us/request" % (
                r["concurrency"], r["load"]["goodput_requests_per_second"],
                1e3 * r["latency"]["tpot_seconds"]["p99"], 1e6 * r["load"]["client_cpu_seconds_per_request"]))

        # Accuracy over the endpoint: llama-server echoes no prompt
        # log-probabilities, so ARC-Easy is scored by the generated letter,
        # and perplexity and KL divergence are missing with the reason.
        shutil.copy(os.path.join(shared, "data", "arc-easy", "arc_easy_validation.json"), os.path.join(work, "arc.json"))
        shutil.copy(os.path.join(shared, "data", "tinystories", "TinyStories-valid.head32k.txt"),
                    os.path.join(work, "stories.txt"))
        acc_spec = spec("accuracy", "local", {"scenario": "SINGLE_STREAM", "promptTokens": 8, "outputTokens": 8,
                                              "measuredRuns": 2})
        acc_spec["accuracy"] = {"choice": [{"task": "ARC_EASY", "file": "arc.json", "limit": 20}],
                                "perplexity": {"text": "stories.txt", "ctx": 128, "maxChunks": 2},
                                "klDivergence": True}
        rc, out, cid = submit(cluster, addr, acc_spec)
        assert rc == 0, out + cluster.log("w")
        accuracy = report(cluster, addr, cid)["result"]["results"][0]["accuracy"]
        choice = accuracy["choice"][0]
        assert choice["method"] == "generated" and int(choice["n"]) == 20, accuracy
        assert "no prompt log-probabilities" in accuracy["note"], accuracy
        assert accuracy.get("perplexity", {}).get("ppl", 0) == 0, accuracy
        assert "full distribution" in accuracy["kld"]["note"], accuracy
        print("accuracy over llama-server: ARC-Easy %.2f (%s, %s of 20 named no letter); note: %s" % (
            choice["accuracy"], choice["method"], choice.get("unanswered", 0), accuracy["note"]))

        # An endpoint no worker advertises: queued, with the reason.
        rc, out, cid = submit(cluster, addr, spec("nobody", "vllm-east", {
            "scenario": "SINGLE_STREAM", "promptTokens": 8, "outputTokens": 8, "measuredRuns": 2}), wait=False)
        assert rc == 0, out
        time.sleep(2)
        c = [x for x in cluster.cli_json("list", "--coordinator", addr)["comparisons"] if x["id"] == cid][0]
        assert c["state"] == "QUEUED", c
        reason = c["jobs"][0].get("waiting_reason", "")
        print("queued: %s" % reason)
        assert "vllm-east" in reason, c
        cluster.cli("cancel", cid, "--coordinator", addr)

        # The server killed mid-run: errors counted, never a silent result.
        before = cluster.log("w").count(": measuring")
        rc, out, cid = submit(cluster, addr, spec("killed", "local", {
            "scenario": "CONCURRENCY", "promptTokens": 16, "outputTokens": 64, "measuredRuns": 100000,
            "minDurationSeconds": 6, "concurrency": 2, "requestTimeoutSeconds": 5}), wait=False)
        assert rc == 0, out
        wait_for("the killed run to start", lambda: cluster.log("w").count(": measuring") > before, timeout=60)
        time.sleep(1.5)
        cluster.kill("llama-server")
        wait_for("the killed run to finish", lambda: [x for x in cluster.cli_json(
            "list", "--coordinator", addr)["comparisons"] if x["id"] == cid][0]["state"] in
            ("SUCCEEDED", "FAILED"), timeout=120)
        c = [x for x in cluster.cli_json("list", "--coordinator", addr)["comparisons"] if x["id"] == cid][0]
        if c["state"] == "SUCCEEDED":
            load = report(cluster, addr, cid)["result"]["results"][0]["load"]
            print("killed server: %s of %s requests failed: %s" % (load["failed"], load["requests"], load["errors"]))
            assert int(load["failed"]) > 0 and load["errors"], load
        else:
            print("killed server: comparison FAILED: %s" % c.get("error", ""))
            assert c.get("error"), c  # failed, and says why
        return 0
    finally:
        cluster.finish()


if __name__ == "__main__":
    sys.exit(main())
