#!/usr/bin/python3
"""Transport security and authentication, for real: certificates made with
openssl, a coordinator serving TLS and mutual TLS on loopback, the tcobench
CLI and a worker as clients, bearer tokens with roles and owners, the
health service without a token, drain, the per-client request rate, and
the refusal of a plaintext non-loopback listen.

usage: tls_auth_test.py BIN_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from procs import Cluster, free_port  # noqa: E402


def openssl(work, *args):
    subprocess.run(["openssl", *args], cwd=work, check=True, capture_output=True)


def make_certs(work):
    """A CA, a server certificate for 127.0.0.1/localhost, a client
    certificate from the CA, and a client certificate from another CA."""
    for ca in ("ca", "rogue-ca"):
        openssl(work, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=" + ca,
                "-keyout", ca + ".key", "-out", ca + ".pem")
    with open(os.path.join(work, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, ca, ext in (("server", "ca", ["-extfile", "server.ext"]), ("client", "ca", []),
                          ("rogue", "rogue-ca", [])):
        openssl(work, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + name, "-keyout", name + ".key",
                "-out", name + ".csr")
        openssl(work, "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
                "-CAcreateserial", "-days", "2", "-out", name + ".pem", *ext)


class SecureCluster(Cluster):
    def coordinator(self, name, *flags):
        """A coordinator with metrics on a free port: (address, metrics port)."""
        metrics = free_port()
        return super().coordinator(name, "--metrics-listen", "127.0.0.1:%d" % metrics, "--lease-seconds", "5",
                                   *flags), metrics


def expect(result, code, text):
    rc, out = result
    assert rc == code and text in out, "expected exit %d and %r, got %d: %s" % (code, text, rc, out)


def main():
    bin_dir = os.path.abspath(sys.argv[1])
    if shutil.which("openssl") is None:
        print("SKIPPED: openssl is not installed")
        return 77
    work = tempfile.mkdtemp(prefix="tcobench-sec-")
    c = SecureCluster(bin_dir, work)
    checks = 0
    try:
        make_certs(work)
        coordinator = os.path.join(bin_dir, "tcobench-coordinator")

        # Plaintext on a non-loopback address: refused unless --insecure.
        r = subprocess.run([coordinator, "--listen", "0.0.0.0:%d" % free_port(), "--data-dir", "x",
                            "--metrics-listen", "none"], cwd=work, capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and "--insecure" in r.stderr, r.stderr
        checks += 1

        # TLS: a client needs the CA.
        addr, _ = c.coordinator("tls", "--tls-cert", "server.pem", "--tls-key", "server.key")
        expect(c.cli("list", "--coordinator", addr, "--tls-ca", "ca.pem"), 0, "")
        expect(c.cli("list", "--coordinator", addr), 1, "not reachable")
        expect(c.cli("list", "--coordinator", addr, "--tls-ca", "rogue-ca.pem"), 1, "not reachable")
        expect(c.cli("list", "--coordinator", addr, "--tls-ca", "nonexistent.pem"), 2, "--tls-ca: cannot read")
        checks += 4
        print("TLS: the CA's client connects; plaintext and a wrong CA do not")

        # Mutual TLS, with tokens.
        tokens = {"admin": "admin-token-0123456789abcdef", "alice": "alice-token-0123456789abcdef",
                  "bob": "bob-token-0123456789abcdef0", "w1": "worker-token-0123456789abcdef"}
        with open(os.path.join(work, "tokens"), "w") as f:
            f.write("# role name token\nadmin ops %s\nclient alice %s\nclient bob %s\nworker w1 %s\n" %
                    (tokens["admin"], tokens["alice"], tokens["bob"], tokens["w1"]))
        for name, token in tokens.items():
            with open(os.path.join(work, name + ".token"), "w") as f:
                f.write(token + "\n")
        addr, metrics = c.coordinator("mtls", "--tls-cert", "server.pem", "--tls-key", "server.key",
                                      "--tls-client-ca", "ca.pem", "--auth-tokens", "tokens")
        tls = ["--coordinator", addr, "--tls-ca", "ca.pem", "--tls-cert", "client.pem", "--tls-key", "client.key"]
        expect(c.cli("list", "--coordinator", addr, "--tls-ca", "ca.pem", "--token-file", "alice.token"), 1,
               "not reachable")  # no client certificate
        expect(c.cli("list", "--coordinator", addr, "--tls-ca", "ca.pem", "--tls-cert", "rogue.pem", "--tls-key",
                     "rogue.key", "--token-file", "alice.token"), 1, "not reachable")
        checks += 2
        print("mutual TLS: no client certificate, or one from another CA, cannot connect")

        # Tokens and roles.
        expect(c.cli("list", *tls), 2, "UNAUTHENTICATED")
        with open(os.path.join(work, "wrong.token"), "w") as f:
            f.write("not-a-real-token-at-all\n")
        expect(c.cli("list", *tls, "--token-file", "wrong.token"), 2, "unknown token")
        expect(c.cli("list", *tls, "--token-file", "w1.token"), 2, "PERMISSION_DENIED")
        expect(c.cli("list", *tls, env={"TCOBENCH_TOKEN": tokens["alice"]}), 0, "")
        checks += 4
        c.synth_model()
        spec = {"name": "security", "baseline": "f16", "variants": [{"name": "f16", "model": "m.gguf"}],
                "workload": {"scenario": "SINGLE_STREAM", "promptTokens": 8, "outputTokens": 4,
                             "warmupRuns": 0, "measuredRuns": 2},
                "hardware": [{"name": "cpu", "selector": {"labels": {"box": "w1"}}}]}
        with open(os.path.join(work, "spec.json"), "w") as f:
            json.dump(spec, f)
        rc, out = c.cli("submit", "spec.json", *tls, "--token-file", "alice.token")
        assert rc == 0, out
        queued = out.splitlines()[0].strip()
        expect(c.cli("cancel", queued, *tls, "--token-file", "bob.token"), 2, "may change only its own")
        expect(c.cli("tag", queued, "bobs", *tls, "--token-file", "bob.token"), 2, "PERMISSION_DENIED")
        expect(c.cli("cancel", queued, *tls, "--token-file", "alice.token"), 0, "CANCELLED")
        expect(c.cli("delete", queued, *tls, "--token-file", "bob.token"), 2, "PERMISSION_DENIED")
        expect(c.cli("delete", queued, *tls, "--token-file", "admin.token"), 0, "deleted")
        checks += 5
        print("roles: no/unknown token UNAUTHENTICATED, a worker token on a user call and bob on alice's "
              "comparison PERMISSION_DENIED; alice cancels hers, an admin deletes it")

        # A worker over mutual TLS with its token runs alice's comparison.
        w = c.worker("w1", addr, *tls[2:], "--labels", "box=w1", env={"TCOBENCH_TOKEN": tokens["w1"]})
        rc, out = c.cli("submit", "spec.json", "--wait", *tls, "--token-file", "alice.token")
        assert rc == 0 and "f16" in out, out
        # Health needs no token (probes cannot send one).
        creds = grpc.ssl_channel_credentials(open(os.path.join(work, "ca.pem"), "rb").read(),
                                             open(os.path.join(work, "client.key"), "rb").read(),
                                             open(os.path.join(work, "client.pem"), "rb").read())
        with grpc.secure_channel(addr, creds) as ch:
            check = ch.unary_unary("/grpc.health.v1.Health/Check", request_serializer=lambda b: b,
                                   response_deserializer=lambda b: b)
            assert check(b"", timeout=10) == b"\x08\x01", "health is not SERVING"
            # A client token on a worker call: PERMISSION_DENIED.
            acquire = ch.unary_unary("/tcobench.v1.CoordinatorService/AcquireJob",
                                     request_serializer=lambda b: b, response_deserializer=lambda b: b)
            try:
                acquire(b"", timeout=10, metadata=[("authorization", "Bearer " + tokens["alice"])])
                raise AssertionError("a client token leased a job")
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.PERMISSION_DENIED, e
        # Drain: not for clients; an admin's drain stops the worker.
        expect(c.cli("drain", "w1", *tls, "--token-file", "alice.token"), 2, "needs an admin token")
        expect(c.cli("drain", "w1", *tls, "--token-file", "admin.token"), 0, "draining w1")
        w.wait(timeout=30)
        assert w.returncode == 0 and "drained" in c.log("w1"), c.log("w1")
        checks += 4
        print("worker: mTLS + token ran a job; health answered without a token; drained, it exited 0")

        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % metrics, timeout=10).read().decode()
        refused = {l.split('"')[1]: float(l.split()[-1]) for l in text.splitlines()
                   if l.startswith("tcobench_coordinator_refused_calls_total{")}
        assert refused["missing_token"] >= 1 and refused["bad_token"] >= 1 and refused["wrong_role"] >= 3 \
            and refused["not_owner"] >= 3, refused
        checks += 1
        print("refusals counted: %s" % refused)

        # Requests per client per second.
        addr, _ = c.coordinator("rate", "--max-requests-per-second", "2")
        results = [c.cli("list", "--coordinator", addr) for _ in range(12)]
        limited = [out for rc, out in results if rc != 0]
        assert limited and all("RESOURCE_EXHAUSTED" in o and "--max-requests-per-second" in o for o in limited), \
            results
        assert results[0][0] == 0, results[0]
        checks += 1
        print("rate: %d of 12 back-to-back calls refused at 2/s (bursts of 4)" % len(limited))
        print("%d passed, 0 failed" % checks)
        return 0
    finally:
        c.finish()


if __name__ == "__main__":
    sys.exit(main())
