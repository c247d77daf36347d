#!/usr/bin/python3
"""The dashboards, against a real Prometheus scraping real daemons.

Starts Debian's prometheus on loopback (1 s scrapes, the project's rule
file loaded), a coordinator and two workers with --metrics-listen, runs a
small comparison (two engine variants and one on an OpenAI-compatible
endpoint: the harness's instant server), tags it, gates a rerun against it,
SIGKILLs a worker, then
evaluates every PromQL expression of every panel in dashboards/grafana
through Prometheus's HTTP API, with the dashboard's variables filled from
their own label_values queries: each must parse and return data. Also:
promtool check metrics on every daemon's /metrics, the rules healthy in
Prometheus, and the worker-down alert raised for the killed worker.

usage: prometheus_test.py BIN_DIR SOURCE_DIR
Skips (exit 77) when prometheus or promtool is not installed.
"""
import glob
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from procs import Cluster, free_port, wait_for  # noqa: E402

SKIP = 77


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


class Prometheus:
    def __init__(self, base):
        self.base = base

    def api(self, path, **params):
        url = "%s/api/v1/%s?%s" % (self.base, path, urllib.parse.urlencode(params, doseq=True))
        try:
            body = http_get(url)
        except urllib.error.HTTPError as e:
            body = e.read().decode()
        reply = json.loads(body)
        if reply.get("status") != "success":
            raise AssertionError("%s %s: %s" % (path, params, reply.get("error", body)))
        return reply["data"]


def substitute(expr, values):
    """Grafana's variables: dashboard ones, then the built-in intervals."""
    for name, value in sorted(values.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace("${%s}" % name, value).replace("$" + name, value)
    expr = expr.replace("$__rate_interval", "1m").replace("$__interval", "15s").replace("$__range", "15m")
    assert "$" not in expr, "unsubstituted variable in %s" % expr
    return expr


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def main():
    bin_dir, source_dir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if prometheus is None or promtool is None:
        print("SKIPPED: Debian's prometheus is not installed (scripts/install-deps.sh --test installs it)")
        return SKIP
    work = tempfile.mkdtemp(prefix="tcobench-prom-")
    c = Cluster(bin_dir, work)
    try:
        def cli(*args, ok=(0,)):
            rc, out = c.cli(*args, timeout=300)
            assert rc in ok, "tcobench %s -> %d\n%s" % (" ".join(args), rc, out)
            return out

        c.synth_model()
        with open(os.path.join(work, "text.txt"), "w") as f:
            f.write("The little cat sat on the warm mat and watched the birds fly over the garden. " * 40)

        ports = {name: free_port() for name in ("coordinator", "w1", "w2", "prometheus", "served")}
        # An OpenAI-compatible endpoint beside the engine variants (the
        # harness's instant server), so the endpoint panels have data.
        c.start("served", [os.path.join(bin_dir, "instant_server"), str(ports["served"])])
        wait_for("the instant server", lambda: port_open(ports["served"]), timeout=30)
        grpc_addr = c.coordinator("coordinator", "--lease-seconds", "3",
                                  "--metrics-listen", "127.0.0.1:%d" % ports["coordinator"])
        # The endpoint's energy from Prometheus: on w1 a power of 250 W, on
        # w2 a counter rising 100 J a second (PromQL constants stand in for a
        # DCGM exporter's series, so the expected energy is exact).
        energy = {"w1": "vector(250)", "w2": "joules:vector(time() * 100)"}
        for name, price in (("w1", "0.10"), ("w2", "0.05")):
            c.worker(name, grpc_addr, "--labels", "box=" + name, "--cost-per-hour", price,
                     "--metrics-listen", "127.0.0.1:%d" % ports[name],
                     "--endpoint", "instant=http://127.0.0.1:%d/v1" % ports["served"],
                     "--prometheus", "http://127.0.0.1:%d" % ports["prometheus"],
                     "--endpoint-energy", "instant=" + energy[name])

        rules = os.path.join(source_dir, "dashboards", "rules", "tcobench.rules.yml")
        config = os.path.join(work, "prometheus.yml")
        with open(config, "w") as f:
            f.write("""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: tcobench-coordinator
    static_configs:
      - targets: ['127.0.0.1:%d']
  - job_name: tcobench-worker
    static_configs:
      - targets: ['127.0.0.1:%d', '127.0.0.1:%d']
""" % (rules, ports["coordinator"], ports["w1"], ports["w2"]))
        r = subprocess.run([promtool, "check", "config", config], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        c.start("prometheus", [prometheus, "--config.file", config, "--storage.tsdb.path",
                               os.path.join(work, "tsdb"), "--web.listen-address",
                               "127.0.0.1:%d" % ports["prometheus"]])
        prom = Prometheus("http://127.0.0.1:%d" % ports["prometheus"])
        wait_for("prometheus", lambda: "Ready" in http_get(prom.base + "/-/ready"), timeout=60)
        wait_for("three targets up", lambda: len(prom.api("query", query="up == 1")["result"]) == 3, timeout=60)

        # A small comparison on two hardware classes (one worker each), its
        # tag, a rerun and the gate between them.
        spec = {
            "name": "monitoring test", "baseline": "f16",
            "variants": [{"name": "f16", "model": "m.gguf"},
                         {"name": "q8_0", "model": "m.gguf", "quantize": "Q8_0"},
                         {"name": "served", "runtime": "openai", "endpoint": "instant", "servedModel": "m"}],
            "workload": {"scenario": "SINGLE_STREAM", "promptTokens": 16, "outputTokens": 8,
                         "warmupRuns": 1, "measuredRuns": 10},
            "accuracy": {"perplexity": {"text": "text.txt", "ctx": 64, "maxChunks": 2}, "klDivergence": True},
            "hardware": [{"name": "box1", "selector": {"labels": {"box": "w1"}}},
                         {"name": "box2", "selector": {"labels": {"box": "w2"}}}],
            "cost": {"load": {"tokensPerDay": 1e6}},
        }
        with open(os.path.join(work, "spec.json"), "w") as f:
            json.dump(spec, f)
        first = cli("submit", "spec.json", "--wait", "--coordinator", grpc_addr).splitlines()[0].strip()
        cli("tag", first, "main", "--coordinator", grpc_addr)
        second = cli("submit", "spec.json", "--wait", "--coordinator", grpc_addr).splitlines()[0].strip()
        cli("tag", second, "pr-1", "--coordinator", grpc_addr)
        gate_rc, out = c.cli("gate", "--baseline", "main", "--candidate", "pr-1", "--coordinator", grpc_addr)
        assert gate_rc in (0, 1, 3), out
        print("comparisons %s (main) and %s (pr-1); gate exit %d" % (first, second, gate_rc))
        for line in out.splitlines():
            if "regression" in line or "inconclusive" in line:
                print("  " + line)

        # The endpoint rows' energy: measured through Prometheus, labelled,
        # the query in the detail.
        report = c.cli_json("report", first, "--coordinator", grpc_addr)
        for row in report["result"]["results"]:
            if row["variant"] != "served":
                continue
            e = row["energy"]
            watts = {"box1": 250, "box2": 100}[row["hardware"]]
            assert e["source"] == "prometheus", e
            # Prometheus keeps times in milliseconds: each end may be 0.5 ms off.
            assert abs(e["average_watts"] - watts) <= watts * (0.01 + 0.001 / e["window_seconds"]), e
            assert ("vector(250)" if watts == 250 else "vector(time() * 100)") in e["detail"], e
            print("served @ %s: energy %s, %.2f W over %.3f s (+-%.0f%%)" % (
                row["hardware"], e["source"], e["average_watts"], e["window_seconds"],
                100 * e["uncertainty_fraction"]))
        # An endpoint-only concurrency sweep, twice, tagged and gated: the
        # capacity series, panels and gate verdict.
        sweep = {
            "name": "endpoint sweep", "baseline": "served",
            "variants": [{"name": "served", "runtime": "openai", "endpoint": "instant", "servedModel": "m"}],
            "workload": {"scenario": "CONCURRENCY", "concurrency": [1, 2, 4], "promptTokens": 16, "outputTokens": 8,
                         "warmupRuns": 1, "measuredRuns": 40},
            "hardware": [{"name": "box1", "selector": {"labels": {"box": "w1"}}}],
        }
        with open(os.path.join(work, "sweep.json"), "w") as f:
            json.dump(sweep, f)
        for tag in ("sweep-main", "sweep-pr"):
            sweep_id = cli("submit", "sweep.json", "--wait", "--coordinator", grpc_addr).splitlines()[0].strip()
            cli("tag", sweep_id, tag, "--coordinator", grpc_addr)
        r = subprocess.run([os.path.join(bin_dir, "tcobench"), "gate", "--baseline", "sweep-main", "--candidate",
                            "sweep-pr", "--format", "json", "--coordinator", grpc_addr],
                           cwd=work, capture_output=True, text=True, timeout=120)
        rc = r.returncode
        assert rc in (0, 1, 3), r.stdout + r.stderr
        verdicts = json.loads(r.stdout)["metrics"]
        for v in verdicts:
            if v["verdict"] == "REGRESSION":
                print("  sweep regression: %s %s: %s" % (v["metric"], v.get("load", ""), v["detail"]))
        loads = sorted({v.get("load", "") for v in verdicts if v["metric"] == "goodput"})
        assert loads == ["1 users", "2 users", "4 users"], loads
        capacity = [v for v in verdicts if v["metric"] == "capacity"]
        assert len(capacity) == 1 and capacity[0].get("candidate_value") == 4, capacity
        assert all(v["endpoint"] == "instant" and v["runtime"] == "openai" for v in capacity), capacity
        print("endpoint sweep gate exit %d: goodput at %s, capacity %s against %s" % (
            rc, ", ".join(loads), capacity[0]["candidate_value"], capacity[0]["baseline_value"]))

        # Every daemon's exposition passes promtool's lint.
        for name in ("coordinator", "w1", "w2"):
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                text = http_get("http://127.0.0.1:%d/metrics" % ports[name])
                times.append(time.perf_counter() - t0)
            r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
            assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), \
                "promtool check metrics on %s:\n%s%s" % (name, r.stdout, r.stderr)
            print("%s: %d samples, %d bytes, scrape median %.1f ms, promtool check metrics clean" %
                  (name, sum(1 for l in text.splitlines() if l and not l.startswith("#")), len(text),
                   1000 * sorted(times)[2]))

        # A worker dies.
        c.kill("w2")
        wait_for("w2 seen down", lambda: prom.api("query", query='up{job="tcobench-worker"} == 0')["result"], 30)
        wait_for("the coordinator to call w2 lost",
                 lambda: float(prom.api("query", query='tcobench_coordinator_workers{state="lost"}')
                               ["result"][0]["value"][1]) >= 1, 30)
        alerts = wait_for("TcobenchWorkerDown raised", lambda: [
            a for a in prom.api("alerts")["alerts"] if a["labels"]["alertname"] == "TcobenchWorkerDown"], 30)
        print("alert TcobenchWorkerDown %s for %s" % (alerts[0]["state"], alerts[0]["labels"]["instance"]))
        for group in prom.api("rules")["groups"]:
            for rule in group["rules"]:
                assert rule["health"] == "ok", "rule %s: %s" % (rule["name"], rule.get("lastError"))

        # Every panel's every expression, with the dashboard's variables.
        end = time.time()
        checked = 0
        for path in sorted(glob.glob(os.path.join(source_dir, "dashboards", "grafana", "*.json"))):
            board = json.load(open(path))
            values = {}
            for var in board["templating"]["list"]:
                if var["type"] == "datasource":
                    values[var["name"]] = ["prometheus"]
                    continue
                m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", var["query"]["query"])
                assert m, "%s: variable %s: unsupported query" % (path, var["name"])
                found = prom.api("label/%s/values" % m.group(2), **{"match[]": m.group(1)})
                assert found, "%s: variable %s has no values" % (os.path.basename(path), var["name"])
                values[var["name"]] = ["|".join(found)] if var.get("multi") else found
            # A panel passes when some choice of the variables gives it data
            # (an engine-only comparison has no endpoint panels' series).
            choices = [dict(zip(values, combo)) for combo in itertools.product(*values.values())]
            for panel in board["panels"]:
                for target in panel.get("targets", []):
                    for choice in choices:
                        expr = substitute(target["expr"], choice)
                        if target.get("instant"):
                            data = prom.api("query", query=expr, time=end)
                        else:
                            data = prom.api("query_range", query=expr, start=end - 600, end=end, step=2)
                        if data["result"]:
                            break
                    assert data["result"], "%s: panel '%s' returned no data for %s" % (
                        os.path.basename(path), panel["title"], expr)
                    checked += 1
            print("%s: %d panels, variables %s" % (os.path.basename(path), len(board["panels"]), values))
        print("%d panel expressions parsed and returned data" % checked)
        return 0
    finally:
        c.finish()


if __name__ == "__main__":
    sys.exit(main())
