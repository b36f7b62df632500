"""The Helm chart against the real local control plane: ``helm install`` succeeds (cluster-wide and
namespaced), the chart's ServiceAccount has every permission the operator needs and none it should not
(checked by impersonation: ``kubectl auth can-i --as=system:serviceaccount:...``), and the operator's pod
template is admitted under Pod Security "restricted".

The operator pods are pinned to a node that does not exist: their image is the Herder image, which the local
node agent would really run, and a second operator must not start reconciling the session's other tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from localcluster.cluster import LocalCluster

from tests.integration.k8s import helm

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "herder"
NO_NODE = ("--set", "nodeSelector.herder\\.dev/test-only=no-such-node")

HERDER = ("datasets", "featuresets", "trainingjobs", "models", "modelversions", "modeldeployments")
CHILDREN = ("jobs.batch", "deployments.apps", "services", "configmaps", "horizontalpodautoscalers.autoscaling",
            "poddisruptionbudgets.policy")
ROUTES = "httproutes.gateway.networking.k8s.io"  # read by name and written, never listed or watched

# (verb, resource, subresource) the operator needs in a namespace it watches
NEEDED: list[tuple[str, str, str]] = [
    *[(v, f"{r}.herder.dev", "") for r in HERDER for v in ("get", "list", "watch", "patch")],
    *[("patch", f"{r}.herder.dev", "status") for r in HERDER],
    *[(v, f"{r}.herder.dev", "") for r in ("trainingjobs", "modelversions") for v in ("create", "delete")],
    *[(v, r, "") for r in ("events", "events.events.k8s.io") for v in ("create", "patch")],
    *[(v, r, "") for r in CHILDREN for v in ("get", "list", "watch", "create", "patch", "delete")],
    *[(v, ROUTES, "") for v in ("get", "create", "patch", "delete")],
    ("get", "persistentvolumeclaims", ""),
    *[(v, "pods", "") for v in ("get", "list", "watch")],
    ("get", "pods", "log"),
]
# ... and what it must never have
FORBIDDEN: list[tuple[str, str, str]] = [
    ("list", "secrets", ""), ("get", "secrets", ""), ("watch", "secrets", ""),
    ("create", "pods", "exec"), ("create", "pods", "attach"), ("create", "pods", "portforward"),
    ("create", "pods", ""), ("delete", "pods", ""),
    ("update", "deployments.apps", ""), ("deletecollection", "jobs.batch", ""),
    ("create", "roles.rbac.authorization.k8s.io", ""), ("create", "rolebindings.rbac.authorization.k8s.io", ""),
    ("create", "serviceaccounts", "token"), ("create", "leases.coordination.k8s.io", ""),
    ("update", "datasets.herder.dev", ""), ("delete", "models.herder.dev", ""),
    ("create", "modeldeployments.herder.dev", ""), ("list", "persistentvolumeclaims", ""),
    ("list", ROUTES, ""), ("watch", ROUTES, ""), ("update", ROUTES, ""),
]
CLUSTER_NEEDED = [(v, "customresourcedefinitions.apiextensions.k8s.io", "") for v in ("get", "list", "watch")]
CLUSTER_FORBIDDEN = [("create", "customresourcedefinitions.apiextensions.k8s.io", ""), ("list", "nodes", ""),
                     ("create", "namespaces", ""), ("delete", "namespaces", ""),
                     ("create", "clusterroles.rbac.authorization.k8s.io", ""),
                     ("impersonate", "users", ""), ("list", "secrets", "")]
# kopf observes Namespaces only when it is not cluster-wide: the namespaced mode reads them, cluster-wide does not.
NAMESPACE_READ = [(v, "namespaces", "") for v in ("get", "list", "watch")]


@dataclass
class Release:
    name: str
    namespace: str
    docs: dict[str, Any]

    @property
    def service_account(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"


def install(cluster: LocalCluster, *values: str) -> Iterator[Release]:
    suffix = uuid.uuid4().hex[:6]
    name, namespace = f"herder-{suffix}", f"herder-system-{suffix}"
    result = helm(cluster, "install", name, str(CHART), "--namespace", namespace, "--create-namespace",
                  "--set", f"fullnameOverride={name}", *NO_NODE, *values)
    assert result.returncode == 0, result.stdout + result.stderr
    try:
        manifest = helm(cluster, "get", "manifest", name, "--namespace", namespace)
        assert manifest.returncode == 0, manifest.stderr
        yield Release(name, namespace, {"manifest": manifest.stdout})
    finally:
        helm(cluster, "uninstall", name, "--namespace", namespace, "--wait=false")
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _group_resource(resource: str) -> tuple[str, str]:
    name, _, group = resource.partition(".")
    return group, name


def _json_stream(text: str) -> list[dict[str, Any]]:
    """kubectl prints one JSON document per created object, back to back."""
    decoder, out, pos = json.JSONDecoder(), [], 0
    while pos < len(text.rstrip()):
        doc, end = decoder.raw_decode(text, pos)
        out.append(doc)
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def can_i(cluster: LocalCluster, who: str, checks: list[tuple[str, str, str]],
          namespace: str | None) -> dict[tuple[str, str, str], bool]:
    """What ``kubectl auth can-i VERB RESOURCE --as=WHO`` answers, for many checks in one request: a
    SelfSubjectAccessReview per check, created *as* the impersonated identity. (``kubectl auth can-i`` itself
    answers "no" for resource types the server does not serve yet, e.g. before the CRDs are installed, so we
    name group and resource exactly instead of letting kubectl resolve them.)"""
    reviews = []
    for verb, resource, sub in checks:
        group, name = _group_resource(resource)
        attrs: dict[str, str] = {"verb": verb, "group": group, "resource": name}
        if sub:
            attrs["subresource"] = sub
        if namespace:
            attrs["namespace"] = namespace
        reviews.append({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                        "spec": {"resourceAttributes": attrs}})
    result = cluster.kubectl("create", f"--as={who}", "-o", "json", "-f", "-",
                             input=json.dumps({"apiVersion": "v1", "kind": "List", "items": reviews}))
    items = _json_stream(result.stdout)
    assert len(items) == len(checks)
    for item, check in zip(items, checks, strict=True):
        assert item["spec"]["resourceAttributes"]["verb"] == check[0]
    return {check: bool(item["status"].get("allowed")) for item, check in zip(items, checks, strict=True)}


def test_can_i_agrees_with_kubectl_auth_can_i(cluster: LocalCluster, cluster_wide: Release) -> None:
    """For built-in resources the batch check and ``kubectl auth can-i --as`` give the same answers."""
    checks = [("create", "jobs.batch", ""), ("list", "secrets", ""), ("get", "pods", "log"),
              ("create", "pods", "exec"), ("patch", "deployments.apps", "")]
    batch = can_i(cluster, cluster_wide.service_account, checks, "default")
    for verb, resource, sub in checks:
        args = ["auth", "can-i", verb, resource, f"--as={cluster_wide.service_account}", "-n", "default"]
        args += [f"--subresource={sub}"] if sub else []
        answer = cluster.kubectl(*args, check=False).stdout.strip()
        assert answer == ("yes" if batch[(verb, resource, sub)] else "no"), (verb, resource, sub, answer)


def fresh_namespace(cluster: LocalCluster, prefix: str, labels: tuple[str, ...] = ()) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    if labels:
        cluster.kubectl("label", "namespace", name, *labels)
    return name


@pytest.fixture(scope="module")
def cluster_wide(cluster: LocalCluster) -> Iterator[Release]:
    yield from install(cluster)


@pytest.fixture(scope="module")
def watched(cluster: LocalCluster) -> Iterator[tuple[str, str]]:
    a, b = fresh_namespace(cluster, "team-a"), fresh_namespace(cluster, "team-b")
    yield a, b
    for ns in (a, b):
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


@pytest.fixture(scope="module")
def namespaced(cluster: LocalCluster, watched: tuple[str, str]) -> Iterator[Release]:
    yield from install(cluster, "--set", f"watchNamespaces={{{watched[0]},{watched[1]}}}")


def test_install_creates_the_operator(cluster: LocalCluster, cluster_wide: Release) -> None:
    ns, name = cluster_wide.namespace, cluster_wide.name
    dep = json.loads(cluster.kubectl("get", "deployment", name, "-n", ns, "-o", "json").stdout)
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"]["type"] == "Recreate"
    sa = json.loads(cluster.kubectl("get", "serviceaccount", name, "-n", ns, "-o", "json").stdout)
    assert sa["automountServiceAccountToken"] is False
    cluster.kubectl("get", "service", f"{name}-metrics", "-n", ns)
    cluster.kubectl("get", "clusterrole", name)
    cluster.kubectl("get", "clusterrolebinding", name)
    # The rollout is accepted by the API server (a ReplicaSet and a Pod exist), even though the pod is
    # deliberately unschedulable here.
    out = cluster.kubectl("get", "pods", "-n", ns, "-l", "app.kubernetes.io/component=operator", "-o", "name")
    assert out.stdout.strip(), "the Deployment created its pod"
    status = helm(cluster, "status", name, "--namespace", ns)
    assert "STATUS: deployed" in status.stdout, status.stdout


def test_cluster_wide_service_account_has_what_it_needs_and_nothing_more(
        cluster: LocalCluster, cluster_wide: Release) -> None:
    work = fresh_namespace(cluster, "work")
    try:
        got = can_i(cluster, cluster_wide.service_account, NEEDED + FORBIDDEN, work)
        missing = [c for c in NEEDED if not got[c]]
        excess = [c for c in FORBIDDEN if got[c]]
        assert not missing, f"the chart's RBAC lacks {missing}"
        assert not excess, f"the chart's RBAC grants {excess}"
        cluster_got = can_i(cluster, cluster_wide.service_account,
                            CLUSTER_NEEDED + CLUSTER_FORBIDDEN + NAMESPACE_READ, None)
        assert all(cluster_got[c] for c in CLUSTER_NEEDED), cluster_got
        assert not any(cluster_got[c] for c in CLUSTER_FORBIDDEN + NAMESPACE_READ), cluster_got
    finally:
        cluster.kubectl("delete", "namespace", work, "--wait=false", check=False)


def test_namespaced_service_account_is_confined_to_its_namespaces(
        cluster: LocalCluster, namespaced: Release, watched: tuple[str, str]) -> None:
    who = namespaced.service_account
    for ns in watched:
        got = can_i(cluster, who, NEEDED + FORBIDDEN, ns)
        assert not [c for c in NEEDED if not got[c]], (ns, [c for c in NEEDED if not got[c]])
        assert not [c for c in FORBIDDEN if got[c]], (ns, [c for c in FORBIDDEN if got[c]])
    elsewhere = fresh_namespace(cluster, "elsewhere")
    try:
        got = can_i(cluster, who, NEEDED, elsewhere)
        assert not any(got.values()), [c for c, ok in got.items() if ok]
        assert not any(can_i(cluster, who, NEEDED[:4], None).values()), "nothing cluster-wide but CRD reads"
    finally:
        cluster.kubectl("delete", "namespace", elsewhere, "--wait=false", check=False)
    cluster_got = can_i(cluster, who, CLUSTER_NEEDED + NAMESPACE_READ + CLUSTER_FORBIDDEN, None)
    assert all(cluster_got[c] for c in CLUSTER_NEEDED + NAMESPACE_READ), cluster_got
    assert not any(cluster_got[c] for c in CLUSTER_FORBIDDEN), cluster_got
    env = {e["name"]: e.get("value") for e in json.loads(cluster.kubectl(
        "get", "deployment", namespaced.name, "-n", namespaced.namespace, "-o", "json").stdout)
        ["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["HERDER_WATCH_NAMESPACES"] == ",".join(watched)


def _pod_from_template(dep: dict[str, Any], namespace: str, name: str) -> dict[str, Any]:
    template = dep["spec"]["template"]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": template["metadata"].get("labels", {})},
            "spec": template["spec"]}


def test_operator_pod_is_admitted_under_pod_security_restricted(
        cluster: LocalCluster, cluster_wide: Release) -> None:
    dep = json.loads(cluster.kubectl("get", "deployment", cluster_wide.name, "-n", cluster_wide.namespace,
                                     "-o", "json").stdout)
    ns = fresh_namespace(cluster, "restricted", ("pod-security.kubernetes.io/enforce=restricted",
                                                 "pod-security.kubernetes.io/enforce-version=latest"))
    try:
        # The pod names the chart's ServiceAccount; the ServiceAccount admission plugin wants it to exist here.
        cluster.kubectl("create", "serviceaccount", cluster_wide.name, "-n", ns)
        pod = _pod_from_template(dep, ns, "herder-operator-probe")
        result = cluster.kubectl("create", "--dry-run=server", "-o", "name", "-f", "-", input=json.dumps(pod),
                                 check=False)
        assert result.returncode == 0, result.stderr
        assert "Warning" not in result.stderr, result.stderr
        # Control: the same namespace rejects a pod without the restricted settings, so enforcement is on.
        bare = _pod_from_template(dep, ns, "bare")
        for c in bare["spec"]["containers"]:
            c.pop("securityContext", None)
        bare["spec"].pop("securityContext", None)
        rejected = cluster.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(bare), check=False)
        assert rejected.returncode != 0
        assert "violates PodSecurity" in rejected.stderr, rejected.stderr
    finally:
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_chart_crds_install_when_present(cluster: LocalCluster, cluster_wide: Release) -> None:
    """When charts/herder/crds/ holds the generated CRDs, the install put them in and they are Established."""
    crds = sorted(p for p in (CHART / "crds").glob("*.yaml")) if (CHART / "crds").is_dir() else []
    assert len(crds) == 6, "charts/herder/crds/ must hold the six generated CRDs (herder crds generate)"
    for path in crds:
        result = cluster.kubectl("wait", "--for=condition=Established", "-f", str(path), "--timeout=60s", check=False)
        assert result.returncode == 0, result.stderr


# ---- the operator itself, authenticated as the chart's ServiceAccount ----------------------------------------



def _sa_kubeconfig(cluster: LocalCluster, release: Release, path: Path) -> Path:
    """A kubeconfig holding a real token of the chart's ServiceAccount (TokenRequest, as the pod would get)."""
    import yaml

    token = cluster.kubectl("create", "token", release.name, "-n", release.namespace, "--duration=1h").stdout.strip()
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    kc = {"apiVersion": "v1", "kind": "Config", "clusters": admin["clusters"],
          "users": [{"name": "herder-sa", "user": {"token": token}}],
          "contexts": [{"name": "herder-sa", "context": {"cluster": admin["clusters"][0]["name"],
                                                         "user": "herder-sa"}}],
          "current-context": "herder-sa"}
    path.write_text(yaml.safe_dump(kc))
    return path


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_operator_starts_with_only_the_namespaced_chart_permissions(
        cluster: LocalCluster, namespaced: Release, watched: tuple[str, str], tmp_path: Path) -> None:
    """``herder operator`` with the chart's ServiceAccount token (namespaced mode, the tighter one) becomes
    live, watches the six kinds in its namespaces, writes status and creates a validation Job for a Dataset
    (whose pod Pod Security "restricted" admits), and logs no permission error."""
    import sys
    import time
    import urllib.request

    assert len(sorted((ROOT / "crds").glob("*.yaml"))) == 6
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    cluster.kubectl("wait", "--for=condition=Established", "-f", str(ROOT / "crds"), "--timeout=60s")
    kubeconfig = _sa_kubeconfig(cluster, namespaced, tmp_path / "sa.kubeconfig")
    metrics, live = _free_port(), _free_port()
    log_path = tmp_path / "operator.log"
    # The chart's configuration (its HERDER_* environment), with flags for what must differ outside a pod.
    # KUBECONFIG as well as --kubeconfig: kopf's login_via_client calls kubernetes.config.load_kube_config(),
    # whose default path the kubernetes library freezes from $KUBECONFIG when it is first imported.
    dep = json.loads(cluster.kubectl("get", "deployment", namespaced.name, "-n", namespaced.namespace,
                                     "-o", "json").stdout)
    chart_env = {e["name"]: e["value"] for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]
                 if e["name"].startswith("HERDER_") and "value" in e}
    assert chart_env["HERDER_WATCH_NAMESPACES"] == ",".join(watched)
    env = {**os.environ, **chart_env, "PYTHONPATH": str(ROOT / "operator"), "KUBECONFIG": str(kubeconfig)}
    claim_name = chart_env["HERDER_STORAGE_URI"].removeprefix("pvc://")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "herder.cli", "operator", f"--kubeconfig={kubeconfig}",
             *[f"--namespace={ns}" for ns in watched], "--metrics-address=127.0.0.1", f"--metrics-port={metrics}",
             f"--liveness=http://127.0.0.1:{live}/healthz"],
            stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"operator exited {proc.returncode}:\n{log_path.read_text()[-4000:]}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{live}/healthz", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, f"operator not live:\n{log_path.read_text()[-4000:]}"
                time.sleep(0.3)
        # An object in a watched namespace gets its status written (and Events posted) under the SA, and the
        # validation Job the operator creates gets its pod admitted in a namespace enforcing Pod Security
        # "restricted". (The claim exists so the operator goes ahead; it stays unbound, so the pod stays Pending.)
        iris = ROOT / "examples" / "iris.yaml"
        if iris.exists():
            import yaml

            ns = watched[0]
            cluster.kubectl("label", "namespace", ns, "--overwrite", "pod-security.kubernetes.io/enforce=restricted",
                            "pod-security.kubernetes.io/enforce-version=latest")
            claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": claim_name},
                     "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                              "storageClassName": "herder-test-unbound"}}
            cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(claim))
            dataset = next(d for d in yaml.safe_load_all(iris.read_text()) if d and d.get("kind") == "Dataset")
            dataset["metadata"]["namespace"] = ns
            cluster.kubectl("apply", "-f", "-", input=json.dumps(dataset))
            name = dataset["metadata"]["name"]
            job = ""
            while True:
                got = json.loads(cluster.kubectl("get", "datasets.herder.dev", name, "-n", ns, "-o", "json").stdout)
                job = (got.get("status") or {}).get("validationJob") or ""
                if job:
                    break
                assert time.monotonic() < deadline + 60, (
                    f"no validation Job recorded in status: {got.get('status')}\n{log_path.read_text()[-4000:]}")
                time.sleep(0.5)
            while True:
                pods = cluster.kubectl("get", "pods", "-n", ns, "-l", f"job-name={job}", "-o", "name").stdout.strip()
                if pods:
                    break
                events = cluster.kubectl("get", "events", "-n", ns, "-o", "json").stdout
                assert "violates PodSecurity" not in events, f"the validation pod was refused: {events[-3000:]}"
                assert time.monotonic() < deadline + 90, f"Job {job} made no pod; events: {events[-3000:]}"
                time.sleep(0.5)
        time.sleep(5)  # watch (re)connections, the first resync, child creation
        assert proc.poll() is None, log_path.read_text()[-4000:]
        text = log_path.read_text()
        for marker in ("status=403", "'code': 403", "Forbidden", "forbidden"):
            assert marker not in text, f"permission error in the operator log:\n{text[-4000:]}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_argocd_cm_snippet_merges_into_an_existing_argocd_cm(cluster: LocalCluster) -> None:
    """The documented install of the Argo CD snippet (a merge patch) keeps argocd-cm's other keys."""
    import yaml

    ns = fresh_namespace(cluster, "argocd")
    try:
        cluster.kubectl("create", "configmap", "argocd-cm", "-n", ns, "--from-literal=url=https://argocd.example")
        snippet = ROOT / "argocd" / "argocd-cm.yaml"
        cluster.kubectl("patch", "configmap", "argocd-cm", "-n", ns, "--type", "merge", "--patch-file", str(snippet))
        data = json.loads(cluster.kubectl("get", "configmap", "argocd-cm", "-n", ns, "-o", "json").stdout)["data"]
        assert data["url"] == "https://argocd.example"
        expected = yaml.safe_load(snippet.read_text())["data"]
        assert {k: data[k] for k in expected} == expected
    finally:
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_on_the_local_cluster_the_operator_pod_is_refused_not_run(cluster: LocalCluster) -> None:
    """Installed the README's way (no node pinning), the operator pod lands on the node agent's node. The agent
    must not start a second, real, cluster-wide operator as a process on this machine: the pod fails with
    ``UnsupportedRole`` and a message that says how to try the chart locally (a kwok node)."""
    suffix = uuid.uuid4().hex[:6]
    name, namespace = f"herder-{suffix}", f"herder-system-{suffix}"
    result = helm(cluster, "install", name, str(CHART), "--namespace", namespace, "--create-namespace",
                  "--set", f"fullnameOverride={name}")
    assert result.returncode == 0, result.stdout + result.stderr
    try:
        deadline = time.monotonic() + 60
        refused: dict[str, Any] | None = None
        while refused is None and time.monotonic() < deadline:
            pods = json.loads(cluster.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]
            refused = next((p for p in pods if p.get("status", {}).get("reason") == "UnsupportedRole"), None)
            time.sleep(0.5)
        assert refused is not None, f"no pod refused with UnsupportedRole: {json.dumps(pods)[:2000]}"
        assert refused["spec"]["nodeName"] == "herder-local"
        assert refused["status"]["phase"] == "Failed"
        assert "kwok" in refused["status"]["message"], refused["status"]["message"]
        ps = subprocess.run(["pgrep", "-af", "herder operator --liveness=http://0.0.0.0"], capture_output=True,
                            text=True, check=False)
        assert ps.stdout.strip() == "", f"an operator process was started: {ps.stdout}"
    finally:
        helm(cluster, "uninstall", name, "--namespace", namespace, "--wait=false")
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
