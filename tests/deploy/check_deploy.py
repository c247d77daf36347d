#!/usr/bin/python3
"""Static checks of the deployment and monitoring files, one per run:

  yamllint     every YAML file under deploy/ and dashboards/ (yamllint)
  prometheus   every Prometheus config (promtool check config)
  rules        the rule files (promtool check rules, promtool test rules)
  compose      the compose file (docker-compose config)
  kustomize    the Kubernetes manifests render (kubectl kustomize), with the
               kinds the issue asks for, and the PrometheusRule holds exactly
               the rule file's groups
  systemd      the units (systemd-analyze verify, against the built binaries)
  dashboards   the Grafana JSON: a datasource variable, every query through
               it, unique ids

usage: check_deploy.py CHECK SOURCE_DIR [BIN_DIR]
Exit 77 (skipped) when the check's tool is not installed.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

SKIP = 77


def need(tool):
    path = shutil.which(tool)
    if path is None:
        print("SKIPPED: %s is not installed (scripts/install-deps.sh --test installs it)" % tool)
        sys.exit(SKIP)
    return path


def run(argv, cwd=None, **kw):
    r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, **kw)
    out = (r.stdout + r.stderr).strip()
    assert r.returncode == 0, "%s failed (%d):\n%s" % (" ".join(argv), r.returncode, out)
    return r.stdout


def yaml_files(src):
    files = []
    for top in ("deploy", "dashboards"):
        for ext in ("yml", "yaml"):
            files += glob.glob(os.path.join(src, top, "**", "*." + ext), recursive=True)
    # Links (deploy/*/rules) point at dashboards/rules: each file once.
    return sorted({os.path.realpath(f) for f in files})


def check_yamllint(src):
    need("yamllint")
    files = yaml_files(src)
    run(["yamllint", "--strict", "-c", os.path.join(src, ".yamllint"), *files])
    print("yamllint: %d files clean" % len(files))


def check_prometheus(src):
    need("promtool")
    configs = sorted(glob.glob(os.path.join(src, "deploy", "*", "prometheus.yml")))
    assert configs, "no Prometheus configs under deploy/"
    for c in configs:
        run(["promtool", "check", "config", c])
        print("promtool check config %s: ok" % os.path.relpath(c, src))


def check_rules(src):
    need("promtool")
    rules = os.path.join(src, "dashboards", "rules")
    run(["promtool", "check", "rules", "tcobench.rules.yml"], cwd=rules)
    out = run(["promtool", "test", "rules", "tcobench.rules.test.yml"], cwd=rules)
    assert "SUCCESS" in out, out
    print("promtool check rules + test rules: ok")


def check_compose(src):
    need("docker-compose")
    compose = os.path.join(src, "deploy", "compose", "docker-compose.yml")
    out = run(["docker-compose", "-f", compose, "config"])
    import yaml
    services = set(yaml.safe_load(out)["services"])
    want = {"coordinator", "worker-1", "worker-2", "prometheus", "grafana"}
    assert want <= services, "compose services %s lack %s" % (services, want - services)
    print("docker-compose config: ok (%s)" % ", ".join(sorted(services)))


def check_kustomize(src):
    need("kubectl")
    import yaml
    base = os.path.join(src, "deploy", "k8s", "base")
    rendered = {}
    for name, path in (("base", base), ("daemonset", os.path.join(src, "deploy", "k8s", "overlays", "daemonset"))):
        docs = [d for d in yaml.safe_load_all(run(["kubectl", "kustomize", path])) if d]
        rendered[name] = {(d["kind"], d["metadata"]["name"]): d for d in docs}
        print("kubectl kustomize %s: %d objects" % (name, len(docs)))
    kinds = lambda name: {k for k, _ in rendered[name]}
    for kind in ("Deployment", "Service", "PersistentVolumeClaim", "ServiceMonitor", "PrometheusRule"):
        assert kind in kinds("base"), "base renders no %s" % kind
    ds = rendered["daemonset"]
    assert ("DaemonSet", "tcobench-worker") in ds and ("Deployment", "tcobench-worker") not in ds, sorted(ds)
    assert ds[("DaemonSet", "tcobench-worker")]["spec"]["template"]["spec"].get("nodeSelector"), "no node selector"
    rule = rendered["base"][("PrometheusRule", "tcobench")]
    source = yaml.safe_load(open(os.path.join(src, "dashboards", "rules", "tcobench.rules.yml")))
    assert rule["spec"]["groups"] == source["groups"], \
        "deploy/k8s/base/prometheusrule.yaml differs from dashboards/rules/tcobench.rules.yml"
    print("PrometheusRule matches dashboards/rules/tcobench.rules.yml")


def check_systemd(src, bin_dir):
    need("systemd-analyze")
    with tempfile.TemporaryDirectory() as tmp:
        units = []
        for unit in glob.glob(os.path.join(src, "deploy", "systemd", "*.service")):
            text = open(unit).read().replace("/usr/local/bin/", os.path.abspath(bin_dir) + "/")
            name = os.path.basename(unit).replace("@.service", "@check.service")
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)
            units.append(os.path.join(tmp, name))
        run(["systemd-analyze", "verify", "--man=no", *units],
            env=dict(os.environ, SYSTEMD_LOG_LEVEL="warning"))
        print("systemd-analyze verify: %d units ok" % len(units))


def check_dashboards(src):
    uids = set()
    for path in sorted(glob.glob(os.path.join(src, "dashboards", "grafana", "*.json"))):
        board = json.load(open(path))
        name = os.path.basename(path)
        assert board["uid"] not in uids, "%s: uid %s used twice" % (name, board["uid"])
        uids.add(board["uid"])
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables.get("datasource", {}).get("type") == "datasource", "%s: no datasource variable" % name
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), "%s: panel ids repeat" % name
        n = 0
        for p in board["panels"]:
            if p["type"] == "row":
                continue
            assert p["datasource"]["uid"] == "${datasource}", "%s: panel '%s' bypasses the variable" % (name, p["title"])
            assert p["targets"], "%s: panel '%s' has no query" % (name, p["title"])
            for t in p["targets"]:
                assert t["datasource"]["uid"] == "${datasource}" and t["expr"].strip(), (name, p["title"])
                n += 1
        print("%s: %d queries, all through ${datasource}" % (name, n))
    assert len(uids) == 3, "expected the Fleet, Model comparison and Regressions dashboards"


def main():
    check, src = sys.argv[1], os.path.abspath(sys.argv[2])
    bin_dir = sys.argv[3] if len(sys.argv) > 3 else os.path.join(src, "build", "bin")
    checks = {"yamllint": check_yamllint, "prometheus": check_prometheus, "rules": check_rules,
              "compose": check_compose, "kustomize": check_kustomize, "dashboards": check_dashboards,
              "systemd": lambda s: check_systemd(s, bin_dir)}
    if check not in checks:
        print("unknown check %s; one of %s" % (check, ", ".join(checks)))
        return 2
    checks[check](src)
    return 0


if __name__ == "__main__":
    sys.exit(main())
