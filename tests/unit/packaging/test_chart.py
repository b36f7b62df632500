"""The Helm chart, rendered by the real helm binary: lint-clean (strict) in every mode, least-privilege RBAC
with no wildcards, the operator Deployment's shape, and values.schema.json rejecting bad values by name."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from localcluster.binaries import bin_dir

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "herder"

NAMESPACED = ("--set", "watchNamespaces={team-a,team-b}")
EVERYTHING = ("--set", "prometheus.url=http://prometheus-server.monitoring.svc:9090",
              "--set", "metrics.serviceMonitor.enabled=true", "--set", "storage.s3.uri=s3://ml-artifacts/herder",
              "--set", "storage.s3.secretName=herder-s3", "--set", "image.digest=sha256:" + "a" * 64,
              "--set", "operator.verbose=true")
MODES = {"default": (), "namespaced": NAMESPACED, "everything": EVERYTHING + NAMESPACED}


@pytest.fixture(scope="module")
def helm() -> str:
    path = bin_dir() / "helm"
    assert path.exists(), f"helm not built at {path}"
    return str(path)


def helm_run(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm, *args], capture_output=True, text=True, check=False, timeout=120)


def render(helm: str, *values: str, namespace: str = "herder-system") -> list[dict[str, Any]]:
    result = helm_run(helm, "template", "herder", str(CHART), "--namespace", namespace, *values)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = of_kind(docs, kind)
    assert len(found) == 1, (kind, [d["metadata"]["name"] for d in found])
    return found[0]


def rules_of(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for d in docs:
        if d["kind"] in {"Role", "ClusterRole"}:
            for rule in d.get("rules") or []:
                yield f"{d['kind']}/{d['metadata']['name']}", rule


def grants(docs: list[dict[str, Any]], kinds: set[str]) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) triples granted by the roles of the given kinds."""
    out = set()
    for d in docs:
        if d["kind"] in kinds:
            for rule in d.get("rules") or []:
                for g in rule.get("apiGroups", []):
                    for r in rule.get("resources", []):
                        for v in rule.get("verbs", []):
                            out.add((g, r, v))
    return out


HERDER = ("datasets", "featuresets", "trainingjobs", "models", "modelversions", "modeldeployments")
CHILDREN = [("batch", "jobs"), ("apps", "deployments"), ("", "services"), ("", "configmaps"),
            ("autoscaling", "horizontalpodautoscalers"), ("policy", "poddisruptionbudgets")]
ROUTES = {("gateway.networking.k8s.io", "httproutes", v) for v in ("get", "create", "patch", "delete")}
"""HTTPRoutes are read by name and written, never listed or watched."""
WRITE = ("create", "patch", "delete")
READ = ("get", "list", "watch")


def required_namespaced() -> set[tuple[str, str, str]]:
    need = {("herder.dev", r, v) for r in HERDER for v in (*READ, "patch")}
    need |= {("herder.dev", f"{r}/status", v) for r in HERDER for v in ("get", "patch")}
    need |= {("herder.dev", r, v) for r in ("trainingjobs", "modelversions") for v in ("create", "delete")}
    need |= {(g, "events", v) for g in ("", "events.k8s.io") for v in ("create", "patch")}
    need |= {(g, r, v) for g, r in CHILDREN for v in (*READ, *WRITE)} | ROUTES
    need |= {("", "persistentvolumeclaims", "get"), ("", "pods/log", "get")}
    need |= {("", "pods", v) for v in READ}
    return need


CLUSTER_READ = {("apiextensions.k8s.io", "customresourcedefinitions", v) for v in READ}
NAMESPACE_READ = {("", "namespaces", v) for v in READ}


# ---- lint ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", sorted(MODES))
def test_helm_lint_strict(helm: str, mode: str) -> None:
    result = helm_run(helm, "lint", "--strict", str(CHART), *MODES[mode])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == "0.1.0"
    assert chart["name"] == "herder"


# ---- RBAC ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", sorted(MODES))
def test_no_wildcards_in_any_rule(helm: str, mode: str) -> None:
    docs = render(helm, *MODES[mode])
    rules = list(rules_of(docs))
    assert rules, "the chart renders RBAC rules"
    for where, rule in rules:
        for field in ("verbs", "resources", "apiGroups", "resourceNames", "nonResourceURLs"):
            for value in rule.get(field) or []:
                assert "*" not in value, f"{where}: wildcard {field} {value!r} in {rule}"


@pytest.mark.parametrize("mode", sorted(MODES))
def test_nothing_dangerous_is_granted(helm: str, mode: str) -> None:
    granted = grants(render(helm, *MODES[mode]), {"Role", "ClusterRole"})
    resources = {r for _, r, _ in granted}
    verbs = {v for _, _, v in granted}
    assert not resources & {"secrets", "pods/exec", "pods/attach", "pods/portforward", "serviceaccounts/token",
                            "roles", "clusterroles", "rolebindings", "clusterrolebindings", "nodes", "leases",
                            "serviceaccounts"}, resources
    assert {v for _, r, v in granted if r == "namespaces"} <= set(READ), "namespaces: read-only at most"
    assert not verbs & {"escalate", "bind", "impersonate", "deletecollection", "update"}, verbs
    assert ("", "persistentvolumeclaims", "list") not in granted
    assert ("", "pods", "create") not in granted and ("", "pods", "delete") not in granted


def test_cluster_mode_grants_exactly_what_the_operator_needs(helm: str) -> None:
    docs = render(helm)
    assert not of_kind(docs, "Role") and not of_kind(docs, "RoleBinding")
    role = one(docs, "ClusterRole")
    granted = grants(docs, {"ClusterRole"})
    assert granted == required_namespaced() | CLUSTER_READ
    binding = one(docs, "ClusterRoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": role["metadata"]["name"]}
    sa = one(docs, "ServiceAccount")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                                    "namespace": "herder-system"}]


def test_namespaced_mode_has_a_role_per_namespace_and_only_crd_read_cluster_wide(helm: str) -> None:
    docs = render(helm, *NAMESPACED)
    assert grants(docs, {"ClusterRole"}) == CLUSTER_READ | NAMESPACE_READ
    without = render(helm, *NAMESPACED, "--set", "rbac.namespaceRead=false")
    assert grants(without, {"ClusterRole"}) == CLUSTER_READ
    roles = of_kind(docs, "Role")
    bindings = of_kind(docs, "RoleBinding")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    for role in roles:
        assert grants([role], {"Role"}) == required_namespaced()
    for b in bindings:
        assert b["subjects"][0]["namespace"] == "herder-system"
        assert b["roleRef"]["kind"] == "Role"
    env = {e["name"]: e.get("value") for e in one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
           ["env"]}
    assert env["HERDER_WATCH_NAMESPACES"] == "team-a,team-b"


def test_gateway_api_access_can_be_turned_off(helm: str) -> None:
    granted = grants(render(helm, "--set", "rbac.gatewayAPI=false"), {"ClusterRole"})
    assert not {r for g, r, _ in granted if g == "gateway.networking.k8s.io"}


def test_rbac_can_be_left_to_the_user(helm: str) -> None:
    docs = render(helm, "--set", "rbac.create=false")
    assert not [d for d in docs if d["kind"] in {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}]


# ---- the operator Deployment --------------------------------------------------------------------------------

def test_operator_deployment(helm: str) -> None:
    docs = render(helm)
    dep = one(docs, "Deployment")
    spec = dep["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    sa = one(docs, "ServiceAccount")
    assert sa["automountServiceAccountToken"] is False
    assert pod["automountServiceAccountToken"] is True
    assert pod["serviceAccountName"] == sa["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (c,) = pod["containers"]
    assert c["image"] == "ghcr.io/herder-dev/herder:0.1.0"
    assert c["args"][0] == "operator"
    assert "--liveness=http://0.0.0.0:8082/healthz" in c["args"]
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"metrics": 8081, "health": 8082}
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["HERDER_STORAGE_URI"] == "pvc://herder-store"
    assert env["HERDER_HERDER_IMAGE"] == c["image"]
    assert env["HERDER_METRICS_PORT"] == "8081"
    assert env["HERDER_WATCH_NAMESPACES"] == ""
    assert "HERDER_PROMETHEUS_URL" not in env, "no Prometheus unless prometheus.url is set"
    assert "envFrom" not in c
    svc = one(docs, "Service")
    assert svc["spec"]["ports"] == [{"name": "metrics", "port": 8081, "targetPort": "metrics", "protocol": "TCP"}]
    assert svc["spec"]["selector"] == spec["selector"]["matchLabels"]
    assert not of_kind(docs, "ServiceMonitor"), "off by default"


def test_everything_on(helm: str) -> None:
    docs = render(helm, *EVERYTHING)
    c = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "ghcr.io/herder-dev/herder@sha256:" + "a" * 64
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["HERDER_STORAGE_URI"] == "s3://ml-artifacts/herder"
    assert env["HERDER_STORAGE_SECRET"] == "herder-s3"
    assert env["HERDER_PROMETHEUS_URL"] == "http://prometheus-server.monitoring.svc:9090"
    assert c["envFrom"] == [{"secretRef": {"name": "herder-s3"}}]
    assert "--verbose" in c["args"]
    sm = one(docs, "ServiceMonitor")
    assert sm["spec"]["endpoints"][0]["port"] == "metrics"
    assert sm["spec"]["selector"]["matchLabels"].items() <= one(docs, "Service")["metadata"]["labels"].items()
    assert sm["spec"]["namespaceSelector"] == {"matchNames": ["herder-system"]}


def test_scheduling_values_reach_the_pod(helm: str) -> None:
    docs = render(helm, "--set", "nodeSelector.pool=ops", "--set", "tolerations[0].key=dedicated",
                  "--set", "tolerations[0].operator=Exists", "--set", "resources.limits.cpu=2")
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "ops"}
    assert pod["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]
    assert pod["containers"][0]["resources"]["limits"]["cpu"] == 2


def test_notes_and_readme_document_crd_upgrades(helm: str) -> None:
    note = "kubectl apply --server-side -f charts/herder/crds/"
    assert note in (CHART / "README.md").read_text()
    assert note in (CHART / "templates" / "NOTES.txt").read_text()


# ---- values.schema.json -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("values", "field"), [
    (("--set", "replicas=2"), "/replicas"),
    (("--set", "image.pullPolicy=Sometimes"), "/image/pullPolicy"),
    (("--set", "watchNamespaces[0]=Team_A"), "/watchNamespaces/0"),
    (("--set", "storage.s3.uri=http://bucket/x"), "/storage/s3/uri"),
    (("--set", "metrics.port=80"), "/metrics/port"),
    (("--set", "securityContext.allowPrivilegeEscalation=true"), "/securityContext/allowPrivilegeEscalation"),
    (("--set", "podSecurityContext.runAsNonRoot=false"), "/podSecurityContext/runAsNonRoot"),
    (("--set", "image.digest=latest"), "/image/digest"),
    (("--set", "replica=1"), "replica"),
    (("--set", "operator.maxWorkers=0"), "/operator/maxWorkers"),
    (("--set", "prometheus.url=prometheus:9090"), "/prometheus/url"),
])
def test_schema_rejects_bad_values_naming_the_field(helm: str, values: tuple[str, ...], field: str) -> None:
    result = helm_run(helm, "template", "herder", str(CHART), *values)
    assert result.returncode != 0, f"{values} was accepted"
    assert field in result.stderr, result.stderr


def test_schema_is_valid_json_and_covers_every_top_level_value() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert schema["additionalProperties"] is False
    assert set(values) <= set(schema["properties"])


def test_servicemonitor_needs_the_service(helm: str) -> None:
    result = helm_run(helm, "template", "herder", str(CHART), "--set", "metrics.serviceMonitor.enabled=true",
                      "--set", "metrics.service.enabled=false")
    assert result.returncode != 0
    assert "metrics.service.enabled" in result.stderr
