#!/usr/bin/python3
"""An independent client of the coordinator: Python with Debian's python3-grpcio,
stubs generated from proto/ at test time (protoc --python_out and
grpc_python_plugin). Starts a coordinator and a worker, submits a comparison,
watches it, reads the report, and checks the API's errors.

Usage: coordinator_client.py BIN_DIR PROTO_DIR
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    bin_dir, proto_dir = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="tcobench-pyclient-")
    stubs = os.path.join(work, "stubs")
    os.makedirs(stubs)
    protos = [os.path.join(proto_dir, "tcobench", "v1", f) for f in ("types.proto", "coordinator.proto")]
    subprocess.run(["protoc", "-I", proto_dir, "-I", "/usr/include", "--python_out=" + stubs,
                    "--grpc_python_out=" + stubs, "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin"]
                   + protos, check=True)
    sys.path.insert(0, stubs)
    import grpc  # noqa: E402
    from tcobench.v1 import coordinator_pb2 as pb  # noqa: E402
    from tcobench.v1 import coordinator_pb2_grpc as rpc  # noqa: E402
    from tcobench.v1 import types_pb2 as types  # noqa: E402

    model = os.path.join(work, "ktiny.gguf")
    subprocess.run([os.path.join(bin_dir, "tcobench"), "model", "synth", model, "--shape", "ktiny",
                    "--type", "F16"], check=True, stdout=subprocess.DEVNULL)
    addr = "127.0.0.1:%d" % free_port()
    procs = []
    try:
        coord_log = open(os.path.join(work, "coordinator.log"), "w")
        procs.append(subprocess.Popen([os.path.join(bin_dir, "tcobench-coordinator"), "--listen", addr,
                                       "--data-dir", os.path.join(work, "data"), "--metrics-listen", "127.0.0.1:0"],
                                      stdout=coord_log,
                                      stderr=subprocess.STDOUT))
        worker_log = open(os.path.join(work, "worker.log"), "w")
        procs.append(subprocess.Popen([os.path.join(bin_dir, "tcobench-worker"), "--coordinator", addr,
                                       "--name", "py", "--model-root", work, "--cache-dir",
                                       os.path.join(work, "cache"), "--threads", "1", "--energy", "model",
                                       "--lock-file", os.path.join(work, "lock"), "--metrics-listen", "127.0.0.1:0"],
                                      stdout=worker_log, stderr=subprocess.STDOUT))
        channel = grpc.insecure_channel(addr)
        grpc.channel_ready_future(channel).result(timeout=20)
        stub = rpc.CoordinatorServiceStub(channel)

        spec = types.ComparisonSpec(name="python client", baseline="f16")
        spec.variants.add(name="f16", model="ktiny.gguf")
        spec.variants.add(name="q8_0", model="ktiny.gguf", quantize="Q8_0")
        spec.workload.scenario = types.Workload.SINGLE_STREAM
        spec.workload.prompt_tokens.number_value = 16
        spec.workload.output_tokens.number_value = 8
        spec.workload.measured_runs = 3
        cid = stub.SubmitComparison(pb.SubmitComparisonRequest(spec=spec), timeout=10).comparison_id
        assert cid.startswith("cmp-"), cid

        states = []
        for event in stub.WatchComparison(pb.WatchComparisonRequest(comparison_id=cid), timeout=120):
            states.append(pb.Comparison.State.Name(event.comparison.state))
        assert states[-1] == "SUCCEEDED", states
        assert "RUNNING" in states or len(states) >= 2, states

        report = stub.GetReport(pb.GetReportRequest(comparison_id=cid), timeout=10)
        variants = sorted(r.variant for r in report.result.results)
        assert variants == ["f16", "q8_0"], variants
        for r in report.result.results:
            assert r.latency.ttft_seconds.n >= 3, r.latency
            assert r.throughput.decode_tokens_per_second > 0
        assert len(report.result.job_manifests) == 2

        listed = stub.ListComparisons(pb.ListComparisonsRequest(), timeout=10)
        assert any(c.id == cid for c in listed.comparisons)
        workers = stub.ListWorkers(pb.ListWorkersRequest(), timeout=10).workers
        assert [w.inventory.name for w in workers] == ["py"], workers

        # Errors: an invalid spec names the field; unknown ids are NOT_FOUND.
        bad = types.ComparisonSpec()
        bad.CopyFrom(spec)
        bad.baseline = "nope"
        try:
            stub.SubmitComparison(pb.SubmitComparisonRequest(spec=bad), timeout=10)
            raise AssertionError("an invalid spec was accepted")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
            assert "baseline" in e.details(), e.details()
        try:
            stub.GetReport(pb.GetReportRequest(comparison_id="cmp-missing"), timeout=10)
            raise AssertionError("an unknown id was found")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND, e
        assert len(stub.ListComparisons(pb.ListComparisonsRequest(), timeout=10).comparisons) == 1
        print("python client: submit, watch (%d events), report, list, workers, errors: ok" % len(states))
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
