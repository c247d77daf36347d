#!/usr/bin/python3
"""Fault injection against real processes on loopback. Each scenario prints
its counts (jobs, kills, lost, duplicated) and fails on any loss or
duplicate.

usage: fault_test.py BIN_DIR SCENARIO
  workers      200 small jobs over 4 workers while a chaos loop SIGKILLs and
               restarts random workers: every job completes, one result each
  coordinator  the coordinator SIGKILLed and restarted 5 times during a run:
               nothing submitted or finished is lost
  frozen       a worker SIGSTOPped past its lease: the job is leased again,
               and when the frozen worker resumes its late result is not
               stored
  restart      workers SIGTERMed a second after registering and replaced
               under the same names, four times, while a Prometheus scrapes
               the coordinator: it keeps running and stops cleanly
  disk_full    the data directory on a small tmpfs that fills up: new work
               is refused with UNAVAILABLE, what was stored stays readable
  disk_readonly  the same on an ext4 file system the kernel turns read-only
               under the running coordinator
Both disk scenarios need root (and the second a loop device); each exits 77
(ctest: Skipped) without, never 0.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from procs import Cluster, free_port, load_stubs, wait_for  # noqa: E402

SKIP = 77


def spec(name, targets, runs=1, min_seconds=0.0):
    return {"name": name, "baseline": "f16", "variants": [{"name": "f16", "model": "m.gguf"}],
            "workload": {"scenario": "SINGLE_STREAM", "promptTokens": 4, "outputTokens": 2,
                         "warmupRuns": 0, "measuredRuns": runs, "minDurationSeconds": min_seconds},
            "hardware": [{"name": "t%d" % i, "selector": {"class": "cpu"}} for i in range(targets)]}


def submit(c, addr, body, retry_seconds=0):
    """Submits; with retry_seconds, retries while the coordinator is down.
    Returns the id once acknowledged."""
    path = os.path.join(c.work, "spec-%s.json" % body["name"])
    with open(path, "w") as f:
        json.dump(body, f)
    deadline = time.time() + retry_seconds
    while True:
        rc, out = c.cli("submit", path, "--coordinator", addr)
        if rc == 0:
            return out.splitlines()[0].strip()
        assert "not reachable" in out and time.time() < deadline, out
        time.sleep(0.2)


def comparisons(c, addr):
    rc, out = c.cli("list", "--limit", "1000", "--format", "json", "--coordinator", addr)
    if rc != 0:
        return None
    return {x["id"]: x for x in json.loads(out).get("comparisons", [])}


def audit(c, addr, ids, jobs_each):
    """(lost, duplicated): jobs not succeeded, and results beyond one per job."""
    lost = duplicated = 0
    listed = comparisons(c, addr)
    for cid in ids:
        cmp = listed.get(cid)
        if cmp is None:
            lost += jobs_each
            continue
        lost += sum(1 for j in cmp["jobs"] if j["state"] != "SUCCEEDED")
        rc, out = c.cli("report", cid, "--format", "json", "--coordinator", addr)
        assert rc == 0, out
        results = json.loads(out)["result"].get("results", [])
        keys = [(r["variant"], r["hardware"]) for r in results]
        duplicated += len(keys) - len(set(keys))
        lost += jobs_each - len(set(keys)) if cmp["state"] == "SUCCEEDED" else 0
    return lost, duplicated


def json_format_result(result):
    """A report's result (proto JSON) as a ComparisonResult message."""
    from google.protobuf import json_format
    from tcobench.v1 import types_pb2
    return json_format.ParseDict(result, types_pb2.ComparisonResult(), ignore_unknown_fields=True)


def all_done(c, addr, ids):
    listed = comparisons(c, addr)
    return listed is not None and all(listed.get(i, {}).get("state") in ("SUCCEEDED", "FAILED", "CANCELLED")
                                      for i in ids)


def scenario_workers(c):
    addr = c.coordinator("coordinator", "--lease-seconds", "1.5", "--max-attempts", "50")
    names = ["w%d" % i for i in range(4)]
    for n in names:
        c.worker(n, addr)
    # 50 x 4 targets = 200 jobs of about 0.3 s each.
    ids = [submit(c, addr, spec("chaos%02d" % i, 4, min_seconds=0.3)) for i in range(50)]
    rng = random.Random(7)
    kills = 0
    deadline = time.time() + 240
    while not all_done(c, addr, ids):
        assert time.time() < deadline, "the jobs did not finish in 240 s"
        time.sleep(rng.uniform(0.3, 1.0))
        victim = rng.choice(names)
        c.kill(victim)
        kills += 1
        time.sleep(rng.uniform(0.05, 0.4))
        c.worker(victim, addr)
    lost, duplicated = audit(c, addr, ids, 4)
    print("workers: jobs 200, kills %d, lost %d, duplicated %d" % (kills, lost, duplicated))
    assert kills >= 5 and lost == 0 and duplicated == 0


def scenario_coordinator(c):
    addr = c.coordinator("coordinator", "--lease-seconds", "2", "--max-attempts", "50")
    for i in range(4):
        c.worker("w%d" % i, addr)
    ids, finished_seen = [], set()
    kills = 0
    for round_ in range(5):
        ids += [submit(c, addr, spec("r%d-%d" % (round_, i), 4, min_seconds=0.3), retry_seconds=30)
                for i in range(5)]
        time.sleep(1.0 + 0.3 * round_)
        listed = comparisons(c, addr)
        finished_seen |= {i for i, x in listed.items() if x["state"] == "SUCCEEDED"}
        c.kill("coordinator")
        kills += 1
        time.sleep(0.3)
        c.coordinator("coordinator", "--lease-seconds", "2", "--max-attempts", "50", addr=addr,
                      data="coordinator-data")
        listed = comparisons(c, addr)
        missing = [i for i in ids if i not in listed]
        regressed = [i for i in finished_seen if listed[i]["state"] != "SUCCEEDED"]
        assert not missing and not regressed, "after kill %d: missing %s, no longer finished %s" % (
            kills, missing, regressed)
    wait_for("every comparison to end", lambda: all_done(c, addr, ids), timeout=240, every=0.5)
    lost, duplicated = audit(c, addr, ids, 4)
    print("coordinator: comparisons %d, jobs %d, kills %d, finished before a kill %d, lost %d, duplicated %d" %
          (len(ids), 4 * len(ids), kills, len(finished_seen), lost, duplicated))
    assert lost == 0 and duplicated == 0


def scenario_frozen(c):
    addr = c.coordinator("coordinator", "--lease-seconds", "2")
    frozen = c.worker("frozen", addr)
    cid = submit(c, addr, spec("frozen", 1, runs=1000, min_seconds=3))
    wait_for("the job to be measured by the frozen worker",
             lambda: "measuring" in comparisons(c, addr)[cid]["jobs"][0].get("stage", ""), timeout=60)
    frozen.send_signal(signal.SIGSTOP)
    wait_for("the lease to expire and the job to be queued again",
             lambda: comparisons(c, addr)[cid]["jobs"][0]["state"] == "QUEUED", timeout=30)
    c.worker("healthy", addr)
    wait_for("the healthy worker to finish", lambda: all_done(c, addr, [cid]), timeout=120)
    frozen.send_signal(signal.SIGCONT)
    # The resumed worker learns its lease is gone: its result is refused or
    # it hands the job back; either way nothing more is stored.
    outcome = wait_for("the resumed worker to give up its job", lambda: (
        "refused" if "has expired" in c.log("frozen") else "handed back" if "cancelled" in c.log("frozen") else None),
        timeout=60)
    time.sleep(1)  # anything it still sends lands before the audit
    lost, duplicated = audit(c, addr, [cid], 1)
    job = comparisons(c, addr)[cid]["jobs"][0]
    print("frozen: jobs 1, leases %d, resumed worker's late work %s, lost %d, duplicated %d" %
          (job["attempts"], outcome, lost, duplicated))
    assert job["attempts"] == 2 and lost == 0 and duplicated == 0

    # The same at the protocol level, where the late completion is certain:
    # a worker (this test, over gRPC) leases a job, goes silent past its
    # lease, another worker finishes the job, then the silent one completes.
    import grpc
    pb, rpc, _ = load_stubs(c.work)
    c.kill("healthy")
    c.kill("frozen")
    stub = rpc.CoordinatorServiceStub(grpc.insecure_channel(addr))
    me = stub.RegisterWorker(pb.RegisterWorkerRequest(inventory=pb.WorkerInventory(name="silent", isa="avx2")),
                             timeout=10).worker_id
    cid2 = submit(c, addr, spec("silent", 1))
    lease = stub.AcquireJob(pb.AcquireJobRequest(worker_id=me), timeout=10)
    assert lease.has_job, lease
    wait_for("the silent worker's lease to expire",
             lambda: comparisons(c, addr)[cid2]["jobs"][0]["state"] == "QUEUED", timeout=30)
    c.worker("healthy2", addr)
    wait_for("another worker to finish the job", lambda: all_done(c, addr, [cid2]), timeout=60)
    rc, out = c.cli("report", cid2, "--format", "json", "--coordinator", addr)
    late = pb.CompleteJobRequest(worker_id=me, lease_id=lease.lease_id)
    late.result.CopyFrom(json_format_result(json.loads(out)["result"]))
    try:
        stub.CompleteJob(late, timeout=10)
        raise AssertionError("a late completion was accepted")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e
        refusal = e.details()
    lost2, duplicated2 = audit(c, addr, [cid2], 1)
    print("silent worker: jobs 1, late completion refused (%s), lost %d, duplicated %d" %
          (refusal, lost2, duplicated2))
    assert lost2 == 0 and duplicated2 == 0


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        return r.read().decode()


def gauge(text, name, labels):
    for line in text.splitlines():
        if line.startswith(name + "{") and all('%s="%s"' % kv in line for kv in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def scenario_restart(c):
    """The sequence a coordinator once vanished in (issue 15): two workers
    SIGTERMed about a second after registering, two new ones registered
    under the same names, then a Prometheus scraping /metrics every second.
    Four rounds on one coordinator; after each it must still run, answer
    /metrics and count one worker per name. Then SIGTERM: it must exit 0
    saying it stopped."""
    mport = free_port()
    addr = c.coordinator("coordinator", "--lease-seconds", "3", "--metrics-listen", "127.0.0.1:%d" % mport)
    coordinator = c.procs["coordinator"]
    prometheus = shutil.which("prometheus")
    scraper = "none"
    for round_ in range(4):
        for name in ("w1", "w2"):
            c.worker(name, addr, "--metrics-listen", "127.0.0.1:%d" % free_port())
        wait_for("both registered", lambda: all(c.log(n).count("registered as") >= 2 * round_ + 1 for n in ("w1", "w2")))
        time.sleep(1.0)
        for name in ("w1", "w2"):
            c.kill(name, signal.SIGTERM)
            c.procs[name].wait(timeout=30)
        for name in ("w1", "w2"):
            c.worker(name, addr, "--metrics-listen", "127.0.0.1:%d" % free_port())
        wait_for("both registered again",
                 lambda: all(c.log(n).count("registered as") >= 2 * round_ + 2 for n in ("w1", "w2")))
        if round_ == 0:
            if prometheus:
                config = os.path.join(c.work, "prometheus.yml")
                with open(config, "w") as f:
                    f.write("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: c\n"
                            "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % mport)
                c.start("prometheus", [prometheus, "--config.file", config, "--storage.tsdb.path",
                                       os.path.join(c.work, "tsdb"), "--web.listen-address",
                                       "127.0.0.1:%d" % free_port()])
                scraper = "prometheus"
            else:
                scraper = "this test, every second"
        deadline = time.time() + 4
        while time.time() < deadline:  # a few seconds of scrapes
            assert coordinator.poll() is None, "round %d: the coordinator exited (%s):\n%s" % (
                round_, coordinator.returncode, c.log("coordinator"))
            text = scrape(mport)
            time.sleep(1.0)
        idle = gauge(text, "tcobench_coordinator_workers", {"state": "idle"})
        busy = gauge(text, "tcobench_coordinator_workers", {"state": "busy"})
        assert (idle or 0) + (busy or 0) == 2, "round %d: workers idle %s busy %s" % (round_, idle, busy)
    coordinator.send_signal(signal.SIGTERM)
    rc = coordinator.wait(timeout=30)
    log = c.log("coordinator")
    assert rc == 0 and "tcobench-coordinator stopped" in log, "exit %s:\n%s" % (rc, log)
    print("restart: 4 rounds of SIGTERMed and re-registered workers under scrapes (%s): the coordinator ran "
          "throughout and stopped cleanly" % scraper)


def fill_until_refused(c, addr):
    """Submits padded specs until one is refused; returns (stored ids, the refusal)."""
    stored = []
    path = os.path.join(c.work, "fill.json")
    for i in range(5000):
        with open(path, "w") as f:
            json.dump(spec("fill%04d-%s" % (i, "x" * 2000), 1), f)
        rc, out = c.cli("submit", path, "--coordinator", addr)
        if rc != 0:
            return stored, out
        stored.append(out.splitlines()[0].strip())
    raise AssertionError("the disk never filled")


def check_kept(c, addr, stored, what, refusal):
    assert "UNAVAILABLE" in refusal or "cannot write its store" in refusal, refusal
    listed = comparisons(c, addr)
    kept = sum(1 for i in stored if i in listed)
    # A stored comparison's report still reads.
    rc, out = c.cli("report", stored[0], "--format", "json", "--coordinator", addr)
    assert rc == 0, out
    print("%s: %d comparisons stored, then refused (%s); %d of %d readable, lost %d" %
          (what, len(stored), refusal.strip().splitlines()[-1][:200], kept, len(stored), len(stored) - kept))
    assert kept == len(stored)


def run(*argv):
    """A command's result; a missing program is a failed run (exit 127), not
    an exception, so the disk tests skip without mount or mkfs.ext4."""
    try:
        return subprocess.run(list(argv), capture_output=True, text=True)
    except FileNotFoundError as e:
        return subprocess.CompletedProcess(list(argv), 127, "", str(e))


def needs_root():
    if os.geteuid() != 0:
        print("SKIPPED: mounting file systems needs root")
        return True
    return False


def scenario_disk_full(c):
    if needs_root():
        return SKIP
    full = os.path.join(c.work, "full")
    os.makedirs(full)
    r = run("mount", "-t", "tmpfs", "-o", "size=640k", "tcobench-test", full)
    if r.returncode != 0:
        print("SKIPPED: cannot mount a tmpfs here: %s" % r.stderr.strip())
        return SKIP
    try:
        addr = c.coordinator("full", data=full)
        stored, refusal = fill_until_refused(c, addr)
        check_kept(c, addr, stored, "disk full", refusal)
        c.kill("full")
    finally:
        run("umount", "-l", full)


def scenario_disk_readonly(c):
    """A disk the kernel turns read-only under the running coordinator: ext4
    on a loop device with errors=remount-ro, and an error triggered."""
    if needs_root():
        return SKIP
    image, ro = os.path.join(c.work, "ext4.img"), os.path.join(c.work, "ro")
    os.makedirs(ro)
    run("truncate", "-s", "16M", image)
    if run("mkfs.ext4", "-q", image).returncode != 0 or \
            run("mount", "-o", "loop,errors=remount-ro", image, ro).returncode != 0:
        print("SKIPPED: cannot mount an ext4 loop image here")
        return SKIP
    try:
        device = os.path.basename(run("findmnt", "-no", "SOURCE", ro).stdout.strip())
        addr = c.coordinator("ro", data=ro)
        stored = [submit(c, addr, spec("before%d" % i, 1)) for i in range(5)]
        with open("/sys/fs/ext4/%s/trigger_fs_error" % device, "w") as f:
            f.write("tcobench fault test\n")
        wait_for("the file system to turn read-only", lambda: {"ro", "emergency_ro"} &
                 set(run("findmnt", "-no", "OPTIONS", ro).stdout.strip().split(",")))
        path = os.path.join(c.work, "after.json")
        with open(path, "w") as f:
            json.dump(spec("after", 1), f)
        rc, out = c.cli("submit", path, "--coordinator", addr)
        assert rc != 0, out
        check_kept(c, addr, stored, "read-only", out)
    finally:
        c.stop()
        run("umount", "-l", ro)


def main():
    bin_dir, scenario = os.path.abspath(sys.argv[1]), sys.argv[2]
    scenarios = {"workers": scenario_workers, "coordinator": scenario_coordinator, "frozen": scenario_frozen, "restart": scenario_restart,
                 "disk_full": scenario_disk_full, "disk_readonly": scenario_disk_readonly}
    work = tempfile.mkdtemp(prefix="tcobench-fault-")
    c = Cluster(bin_dir, work)
    t0 = time.time()
    try:
        c.synth_model()
        rc = scenarios[scenario](c) or 0
        print("%s: %.0f s" % (scenario, time.time() - t0))
        return rc
    finally:
        c.finish()


if __name__ == "__main__":
    sys.exit(main())
