"""deploy/: the Helm chart (helm lint, helm template), the plain Kubernetes
manifests, both validated against the Kubernetes schemas with kubeconform, the
Dockerfile's runtime stage against the libraries the built binary links, and
the systemd unit (issue 19, point 2).

helm and kubeconform are Go modules built once into a cache outside the
repository by deploy/tools.sh (install-deps.sh runs it; so does this file
when they are missing), with the schemas PyPI's kubernetes-validate ships.
"""
import configparser
import glob
import os
import re
import subprocess

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARK_BIN = os.environ.get("SHARK_BIN", os.path.join(REPO, "build", "shark"))
CHART = os.path.join(REPO, "deploy", "helm", "shark")
KUBE = "1.31.0"


@pytest.fixture(scope="module")
def tools():
    r = subprocess.run(["bash", os.path.join(REPO, "deploy", "tools.sh")], capture_output=True,
                       text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout.strip().splitlines()[-1]


def helm(tools, *args):
    return subprocess.run([os.path.join(tools, "helm"), *args], capture_output=True, text=True,
                          timeout=120)


def kubeconform(tools, text):
    loc = os.path.join(tools, "schemas",
                       "{{.NormalizedKubernetesVersion}}{{.StrictSuffix}}",
                       "{{.ResourceKind}}{{.KindSuffix}}.json")
    return subprocess.run([os.path.join(tools, "kubeconform"), "-strict", "-summary",
                           "-kubernetes-version", KUBE, "-schema-location", loc, "-"],
                          input=text, capture_output=True, text=True, timeout=120)


def assert_valid(tools, text, n):
    r = kubeconform(tools, text)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Valid: %d, Invalid: 0, Errors: 0, Skipped: 0" % n in r.stdout, r.stdout


def render(tools, values, *extra):
    r = helm(tools, "template", "auth", CHART, "--kube-version", KUBE, "-f",
             os.path.join(CHART, "ci", values), *extra)
    assert r.returncode == 0, r.stderr
    return r.stdout, [d for d in yaml.safe_load_all(r.stdout) if d]


def by_kind(docs):
    out = {}
    for d in docs:
        out.setdefault(d["kind"], []).append(d)
    return out


def check_server(dep, no_migrate):
    spec = dep["spec"]["template"]["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    (c,) = spec["containers"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["args"][0] == "serve"
    assert ("--no-migrate" in c["args"]) == no_migrate
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    return c


@pytest.mark.parametrize("values", ["minimal-values.yaml", "full-values.yaml"])
def test_helm_lint(tools, values):
    r = helm(tools, "lint", CHART, "--strict", "--kube-version", KUBE, "-f",
             os.path.join(CHART, "ci", values))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in r.stdout


def test_helm_template_minimal(tools):
    text, docs = render(tools, "minimal-values.yaml")
    kinds = by_kind(docs)
    assert sorted(kinds) == ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Job",
                             "PodDisruptionBudget", "Secret", "Service"]
    assert_valid(tools, text, len(docs))
    c = check_server(kinds["Deployment"][0], no_migrate=True)
    assert "replicas" not in kinds["Deployment"][0]["spec"]  # the autoscaler owns it
    env = [e["secretRef"]["name"] for e in c["envFrom"] if "secretRef" in e]
    assert env == [kinds["Secret"][0]["metadata"]["name"]]
    sec = kinds["Secret"][0]["stringData"]
    assert set(sec) == {"SHARK_MASTER_KEY", "SHARK_DB"}
    assert "target_session_attrs=read-write" in sec["SHARK_DB"]
    job = kinds["Job"][0]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    hpa = kinds["HorizontalPodAutoscaler"][0]["spec"]
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    assert kinds["PodDisruptionBudget"][0]["spec"]["minAvailable"] == 2
    cm = kinds["ConfigMap"][0]["data"]
    assert cm["SHARK_ISSUER"] == "https://auth.example.com"
    assert cm["SHARK_LISTEN"] == "0.0.0.0:8080"


def test_helm_template_full(tools):
    text, docs = render(tools, "full-values.yaml")
    kinds = by_kind(docs)
    assert sorted(kinds) == ["ConfigMap", "Deployment", "Ingress", "PodDisruptionBudget",
                             "Service"]
    assert_valid(tools, text, len(docs))
    dep = kinds["Deployment"][0]
    c = check_server(dep, no_migrate=False)
    assert dep["spec"]["replicas"] == 4
    assert [e["secretRef"]["name"] for e in c["envFrom"] if "secretRef" in e] == \
        ["shark-secrets"]
    ing = kinds["Ingress"][0]["spec"]
    assert ing["tls"][0]["secretName"] == "shark-tls"
    assert ing["rules"][0]["host"] == "auth.ci.example"
    assert kinds["ConfigMap"][0]["data"]["SHARK_TRUSTED_PROXY"] == "10.0.0.0/8"


def test_helm_template_refuses_missing_secrets(tools):
    r = helm(tools, "template", "auth", CHART, "--kube-version", KUBE)
    assert r.returncode != 0
    assert "masterKey is required unless existingSecret is set" in r.stderr


def test_plain_manifests(tools):
    docs, text = [], ""
    for path in sorted(glob.glob(os.path.join(REPO, "deploy", "k8s", "*.yaml"))):
        with open(path) as f:
            body = f.read()
        text += "---\n" + body
        docs += [d for d in yaml.safe_load_all(body) if d]
    kinds = by_kind(docs)
    assert sorted(kinds) == ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Ingress",
                             "Job", "PodDisruptionBudget", "Secret", "Service"]
    assert_valid(tools, text, len(docs))
    check_server(kinds["Deployment"][0], no_migrate=True)
    sel = kinds["Service"][0]["spec"]["selector"]
    labels = kinds["Deployment"][0]["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in sel.items())


def test_kubeconform_refuses_a_broken_manifest(tools):
    """The validation is real: a misspelt field and a wrong type are caught."""
    bad = ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n"
           "  replicas: three\n  selector: {matchLabels: {a: b}}\n"
           "  template:\n    metadata: {labels: {a: b}}\n"
           "    spec:\n      containers:\n        - name: x\n          image: x\n"
           "          readinessProbe: {httpGet: {paht: /readyz, port: 80}}\n")
    r = kubeconform(tools, bad)
    assert r.returncode != 0
    assert "Invalid: 1" in r.stdout, r.stdout


def dockerfile_stages():
    with open(os.path.join(REPO, "deploy", "Dockerfile")) as f:
        text = re.sub(r"\\\n", " ", f.read())
    stages, cur = {}, None
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)", line, re.I)
        if m:
            cur = m.group(2)
            stages[cur] = {"from": m.group(1), "lines": []}
        elif cur and line and not line.startswith("#"):
            stages[cur]["lines"].append(line)
    return stages


def apt_packages(lines):
    pkgs = set()
    for line in lines:
        for part in line.split("&&"):
            words = part.split()
            if "install" in words and "apt-get" in words:
                pkgs |= {w for w in words[words.index("install") + 1:] if not w.startswith("-")}
    return pkgs


def test_dockerfile_runtime_is_slim_non_root_and_has_what_the_binary_links():
    st = dockerfile_stages()
    assert list(st) == ["build", "runtime", "embedded"]
    assert re.match(r"debian:\$\{DEBIAN_RELEASE\}-slim$", st["runtime"]["from"])
    assert st["embedded"]["from"] == "runtime"
    for name in ("runtime", "embedded"):
        users = [l.split()[1] for l in st[name]["lines"] if l.startswith("USER ")]
        assert users and users[-1].split(":")[0] not in ("0", "root"), (name, users)
    runtime = apt_packages(st["runtime"]["lines"])
    assert not [p for p in runtime if p.endswith("-dev")], runtime
    assert "postgresql-15" in apt_packages(st["embedded"]["lines"])
    assert not [p for p in runtime if p.startswith("postgresql")]
    # Every library the built binary names (DT_NEEDED) comes from a package
    # the runtime stage installs, or from libc6, which slim has.
    out = subprocess.run(["readelf", "-d", SHARK_BIN], capture_output=True, text=True,
                         check=True).stdout
    needed = re.findall(r"\(NEEDED\).*\[(.+)\]", out)
    assert "libpq.so.5" in needed, needed
    ldd = subprocess.run(["ldd", SHARK_BIN], capture_output=True, text=True, check=True).stdout
    paths = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
    for lib in needed:
        if lib.startswith("ld-linux"):  # the dynamic loader, libc6's
            continue
        real = os.path.realpath(paths[lib])
        owner = subprocess.run(["dpkg", "-S", real], capture_output=True, text=True)
        if owner.returncode != 0:  # dpkg records the /lib path behind /usr/lib
            owner = subprocess.run(["dpkg", "-S", real.replace("/usr/lib/", "/lib/", 1)],
                                   capture_output=True, text=True)
        assert owner.returncode == 0, (lib, real, owner.stderr)
        pkg = owner.stdout.split(":")[0]
        assert pkg in runtime or pkg == "libc6", (lib, pkg, sorted(runtime))


def test_systemd_unit():
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    cp.read(os.path.join(REPO, "deploy", "systemd", "shark.service"))
    svc = cp["Service"]
    assert svc["User"] == "shark"
    assert svc["ExecStartPre"] == "/usr/local/bin/shark migrate"
    assert svc["ExecStart"] == "/usr/local/bin/shark serve --no-migrate"
    assert svc["KillSignal"] == "SIGTERM"
    assert svc["NoNewPrivileges"] == "yes"
    assert cp["Install"]["WantedBy"] == "multi-user.target"
    # The commands the unit runs exist in this binary.
    for args in (["migrate", "--help"], ["serve", "--help"]):
        r = subprocess.run([SHARK_BIN, *args], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
    r = subprocess.run([SHARK_BIN, "serve", "--help"], capture_output=True, text=True)
    assert "--no-migrate" in r.stdout
