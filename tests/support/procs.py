"""Real tcobench processes on loopback for the Python integration tests:
free ports, a coordinator and workers with their logs, the CLI, and
waiting for a condition."""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import time


def free_port():
    """A free port below Linux's ephemeral range (32768-60999): one from that
    range can be given to an outgoing connection while a daemon is down, and
    the daemon's restart could not bind it."""
    rng = random.Random(os.getpid() * 7919 + time.monotonic_ns())
    for _ in range(200):
        port = rng.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-31999")


def wait_for(what, check, timeout=30, every=0.1):
    """check()'s first true value; an exception counts as "not yet"."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as e:  # e.g. a server not up yet
            last = e
        time.sleep(every)
    raise AssertionError("timed out waiting for %s%s" % (what, " (%s)" % last if last else ""))


def llama_dir():
    """The llama.cpp folder scripts/build-llama-cpp.sh makes ($TCOBENCH_LLAMA_DIR,
    else the script's default), built or not."""
    if os.environ.get("TCOBENCH_LLAMA_DIR"):
        return os.environ["TCOBENCH_LLAMA_DIR"]
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "build-llama-cpp.sh")
    return subprocess.run([script, "--dir"], capture_output=True, text=True).stdout.strip()


class Cluster:
    """Processes started in `work`, each with its log `work/NAME.log`; all
    stopped by stop()."""

    def __init__(self, bin_dir, work):
        self.bin_dir, self.work, self.procs = bin_dir, work, {}
        self.starts = {}
        # Every process ever started: a name started again replaces its
        # entry in procs, and the earlier process must still be stopped.
        self.all = []

    def start(self, name, argv, env=None):
        self.starts[name] = self.starts.get(name, 0) + 1
        log = open(os.path.join(self.work, name + ".log"), "a")
        p = subprocess.Popen(argv, cwd=self.work, stdout=log, stderr=subprocess.STDOUT,
                             env=dict(os.environ, **(env or {})))
        self.procs[name] = p
        self.all.append(p)
        return p

    def log(self, name):
        with open(os.path.join(self.work, name + ".log")) as f:
            return f.read()

    def coordinator(self, name="coordinator", *flags, addr=None, data=None):
        """Starts a coordinator (by default on a new loopback port, data in
        NAME-data) and waits until it serves; returns its address."""
        addr = addr or "127.0.0.1:%d" % free_port()
        before = self.log(name).count("listening on") if os.path.exists(os.path.join(self.work, name + ".log")) else 0
        metrics = [] if "--metrics-listen" in flags else ["--metrics-listen", "none"]
        p = self.start(name, [os.path.join(self.bin_dir, "tcobench-coordinator"), "--listen", addr,
                              "--data-dir", data or name + "-data", *metrics, *flags])
        wait_for(name, lambda: self.log(name).count("listening on") > before or p.poll() is not None)
        assert p.poll() is None, self.log(name)
        return addr

    def worker(self, name, addr, *flags, env=None):
        metrics = [] if "--metrics-listen" in flags else ["--metrics-listen", "none"]
        return self.start(name, [os.path.join(self.bin_dir, "tcobench-worker"), "--coordinator", addr,
                                 "--name", name, "--model-root", self.work, "--threads", "1",
                                 "--energy", "model", *metrics,
                                 "--lock-file", os.path.join(self.work, name + ".lock"),
                                 "--cache-dir", os.path.join(self.work, "cache"), *flags], env=env)

    def kill(self, name, sig=signal.SIGKILL):
        p = self.procs[name]
        p.send_signal(sig)
        if sig == signal.SIGKILL:
            p.wait()

    def cli(self, *args, env=None, timeout=120):
        r = subprocess.run([os.path.join(self.bin_dir, "tcobench"), *args], cwd=self.work, capture_output=True,
                           text=True, timeout=timeout, env=dict(os.environ, **(env or {})))
        return r.returncode, r.stdout + r.stderr

    def cli_json(self, *args):
        rc, out = self.cli(*args, "--format", "json")
        assert rc == 0, out
        return json.loads(out)

    def synth_model(self, name="m.gguf"):
        rc, out = self.cli("model", "synth", name, "--shape", "ktiny", "--type", "F16")
        assert rc == 0, out

    def finish(self):
        """Stops everything and removes the work folder (kept when
        TCOBENCH_KEEP_TEST_DIR is set)."""
        self.stop()
        if os.environ.get("TCOBENCH_KEEP_TEST_DIR"):
            print("kept", self.work)
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    def stop(self):
        for p in self.all:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.terminate()
        for p in self.all:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def load_stubs(work):
    """The tcobench.v1 Python stubs, generated from proto/ into WORK/stubs
    (protoc and grpc_python_plugin from Debian): (coordinator_pb2,
    coordinator_pb2_grpc, types_pb2)."""
    proto_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto")
    stubs = os.path.join(work, "stubs")
    os.makedirs(stubs, exist_ok=True)
    protos = [os.path.join(proto_dir, "tcobench", "v1", f) for f in ("types.proto", "coordinator.proto")]
    subprocess.run(["protoc", "-I", proto_dir, "-I", "/usr/include", "--python_out=" + stubs,
                    "--grpc_python_out=" + stubs, "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin"]
                   + protos, check=True)
    import sys
    sys.path.insert(0, stubs)
    from tcobench.v1 import coordinator_pb2, coordinator_pb2_grpc, types_pb2
    return coordinator_pb2, coordinator_pb2_grpc, types_pb2
