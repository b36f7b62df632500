"""The generated CRDs against the real API server: they install and become Established, `kubectl explain` shows
the field docs, every example passes a server-side dry run, the objects the server stores parse back into the
models, ModelVersion specs are immutable, printer columns and short names work, and a table of invalid manifests
(tests/unit/api/invalid_manifests.py) is rejected with a message naming the field path -- and nothing is created."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from localcluster.cluster import LocalCluster

from herder.api import KINDS, parse_object
from tests.integration.k8s import get_json, wait_until
from tests.unit.api.invalid_manifests import CASES, Case, example

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "crds"
EXAMPLE_FILES = sorted((ROOT / "examples").glob("*.yaml"))


@pytest.fixture(scope="module")
def installed(cluster: LocalCluster) -> LocalCluster:
    """The CRDs from crds/ applied server-side (forcing ownership over an earlier Helm install) and Established."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_DIR))
    cluster.kubectl("wait", "--for=condition=Established", "-f", str(CRD_DIR), "--timeout=60s")
    return cluster


@pytest.fixture
def ns(installed: LocalCluster, namespace: str) -> str:
    """A fresh namespace, with the CRDs installed."""
    return namespace


@pytest.fixture(scope="module")
def shared_ns(installed: LocalCluster) -> Iterator[str]:
    """One namespace for the many rejection and dry-run checks (nothing is meant to be created in it)."""
    name = f"t-crds-{uuid.uuid4().hex[:6]}"
    installed.kubectl("create", "namespace", name)
    yield name
    installed.kubectl("delete", "namespace", name, "--wait=false", check=False)


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_every_crd_is_established_and_structural(installed: LocalCluster) -> None:
    assert sorted(p.name for p in CRD_DIR.glob("*.yaml")) == sorted(f"{k.crd_name}.yaml" for k in KINDS.values())
    for info in KINDS.values():
        crd = get_json(installed, "crd", info.crd_name)
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions.get("Established") == "True", (info.kind, conditions)
        assert conditions.get("NamesAccepted") == "True", (info.kind, conditions)
        assert "NonStructuralSchema" not in conditions, (info.kind, crd["status"]["conditions"])
        assert crd["status"]["acceptedNames"]["shortNames"] == list(info.short_names)
        assert crd["status"]["acceptedNames"]["categories"] == ["herder"]


def test_kubectl_explain_shows_field_docs(installed: LocalCluster) -> None:
    def explain(path: str) -> str:
        r = installed.kubectl("explain", path, check=False)
        return r.stdout if r.returncode == 0 else ""

    spec = wait_until(lambda: explain("modeldeployment.spec"), timeout=30, what="explain modeldeployment.spec")
    assert "Serve a Model version behind a REST endpoint" in spec
    for field, doc in [("model", "Model and version (or alias) to serve."), ("strategy", "How version changes roll"),
                       ("analysis", "Live analysis during rollouts."), ("replicas", "Replicas of the stable track")]:
        assert field in spec and doc in spec, (field, spec)
    weight = explain("modeldeployment.spec.strategy.canary.steps.weight")
    assert "Percent of traffic sent to the new version during this step." in weight
    estimator = explain("trainingjob.spec.estimator.class")
    assert "allowlist" in estimator
    assert "Defaults to 30s." in explain("modeldeployment.spec.analysis.interval")  # defaults are in the docs


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_passes_server_dry_run(ns: str, installed: LocalCluster, path: Path) -> None:
    r = installed.kubectl("apply", "--dry-run=server", "-n", ns, "-f", str(path), check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("(server dry run)") == len(docs(path)), r.stdout


def test_stored_examples_parse_back_into_the_models(ns: str, installed: LocalCluster) -> None:
    """What the API server stores (with its defaults and metadata) is valid for the operator's models, and the
    server applied the schema defaults the models declare."""
    for path in EXAMPLE_FILES:
        installed.kubectl("apply", "-n", ns, "-f", str(path))
    for info in KINDS.values():
        items = get_json(installed, info.plural, "-n", ns)["items"]
        assert items, info.kind
        for body in items:
            obj = parse_object(body)
            assert obj.metadata.generation == 1
    canary = get_json(installed, "mdep", "iris-canary", "-n", ns)
    accuracy = canary["spec"]["monitoring"]["metrics"][1]
    assert accuracy["name"] == "accuracy" and accuracy["failureLimit"] == 1  # default from the model
    assert canary["spec"]["analysis"]["metrics"][0]["noData"] == "Inconclusive"
    tj = get_json(installed, "tj", "iris-v1", "-n", ns)
    assert tj["spec"]["evaluation"]["stratify"] is True


def test_null_for_an_optional_field_is_pruned(ns: str, installed: LocalCluster) -> None:
    """An explicit null (common from Helm templates) reads as "absent", so one-of rules still hold."""
    body = example("iris.yaml", "ModelDeployment")
    body["metadata"] = {"name": "nulls"}
    body["spec"]["model"]["version"] = None
    body["spec"]["autoscaling"] = None
    installed.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(body))
    stored = get_json(installed, "mdep", "nulls", "-n", ns)
    assert "version" not in stored["spec"]["model"]
    assert "autoscaling" not in stored["spec"]
    parse_object(stored)


IMMUTABLE = [("ModelVersion", "external-modelversion.yaml", {"metrics": {"accuracy": "0.99"}}, "register a new"),
             ("TrainingJob", "iris.yaml", {"deadline": "1h"}, "create a new TrainingJob")]


@pytest.mark.parametrize(("kind", "file", "change", "hint"), IMMUTABLE, ids=[i[0] for i in IMMUTABLE])
def test_spec_is_immutable(ns: str, installed: LocalCluster, kind: str, file: str, change: dict[str, Any],
                           hint: str) -> None:
    body = example(file, kind)
    name, plural = body["metadata"]["name"], KINDS[kind].plural
    installed.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(body))
    r = installed.kubectl("patch", plural, name, "-n", ns, "--type=merge", "-p", json.dumps({"spec": change}),
                          check=False)
    assert r.returncode != 0
    assert "spec: Forbidden: spec is immutable" in r.stderr and hint in r.stderr, r.stderr
    stored = get_json(installed, plural, name, "-n", ns)["spec"]
    assert {k: stored[k] for k in change} == {k: body["spec"][k] for k in change}
    # labels and status stay writable
    installed.kubectl("label", plural, name, "-n", ns, "team=ml")
    status = {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Verified", "message": "",
                                         "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}]}}
    installed.kubectl("patch", plural, name, "-n", ns, "--subresource=status", "--type=merge",
                      "-p", json.dumps(status))
    assert get_json(installed, plural, name, "-n", ns)["status"]["conditions"][0]["reason"] == "Verified"


def test_printer_columns_short_names_and_category(ns: str, installed: LocalCluster) -> None:
    installed.kubectl("apply", "-n", ns, "-f", str(ROOT / "examples" / "canary-rollout.yaml"))
    status = {"status": {"stableVersion": 3, "canaryVersion": 4, "canaryWeight": 25, "currentStep": 1,
                         "url": "http://iris-canary.ns.svc:8080",
                         "conditions": [{"type": "Ready", "status": "True", "reason": "Serving", "message": "",
                                         "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}
    installed.kubectl("patch", "mdep", "iris-canary", "-n", ns, "--subresource=status", "--type=merge",
                      "-p", json.dumps(status))
    lines = installed.kubectl("get", "mdep", "-n", ns).stdout.splitlines()
    assert lines[0].split() == ["NAME", "MODEL", "STABLE", "CANARY", "WEIGHT", "READY", "URL", "AGE"]
    assert lines[1].split()[:7] == ["iris-canary", "iris", "3", "4", "25", "True", "http://iris-canary.ns.svc:8080"]
    wide = installed.kubectl("get", "mdep", "-n", ns, "-o", "wide").stdout.splitlines()
    assert wide[0].split()[-4:] == ["ALIAS", "STEP", "STATUS", "AGE"]
    listed = installed.kubectl("get", "herder", "-n", ns, "-o", "name").stdout.split()
    assert "modeldeployment.herder.dev/iris-canary" in listed
    for short in ("dset", "fset", "tj", "mdl", "mv", "mdep"):
        installed.kubectl("get", short, "-n", ns)


CEL_INTERNALS = ("no such overload", "no matching overload", "no such key", "failed to evaluate",
                 "conversion error", "type conversion", "cost budget")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_invalid_manifest_is_rejected_with_the_field_path(shared_ns: str, installed: LocalCluster, case: Case) -> None:
    ns = shared_ns
    body = case.manifest()
    r = installed.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(body), check=False)
    assert r.returncode != 0, f"{case.id}: accepted\n{r.stdout}"
    assert "is invalid" in r.stderr, r.stderr
    assert case.path in r.stderr, f"{case.id}: expected {case.path!r} in\n{r.stderr}"
    for text in case.expect:  # the bad value and a hint of what is right
        assert text in r.stderr, f"{case.id}: expected {text!r} in\n{r.stderr}"
    for leak in CEL_INTERNALS:  # a rule's own failure (a conversion, a missing key) is not a message for users
        assert leak not in r.stderr, f"{case.id}: CEL runtime error in\n{r.stderr}"
    plural = KINDS[case.kind].plural
    got = installed.kubectl("get", plural, body["metadata"]["name"], "-n", ns, check=False)
    assert got.returncode != 0 and "NotFound" in got.stderr, f"{case.id}: object exists\n{got.stdout}"


def _random_mutations(seed: int, n: int) -> list[tuple[str, str, Any]]:
    """(kind, what, mutation) triples that are valid or invalid at random, for the parity check below."""
    import random

    rng = random.Random(seed)
    decimals = ["0", "0.5", "1", "-1", "0.25", "10", "0.05", "2.5"]
    out: list[tuple[str, str, Any]] = []
    for _ in range(n):
        choice = rng.randrange(5)
        if choice == 0:
            weights = [rng.randrange(1, 101) for _ in range(rng.randrange(1, 6))]
            out.append(("ModelDeployment", f"steps={weights}", ("spec.strategy.canary.steps",
                                                                 [{"weight": w} for w in weights])))
        elif choice == 1:
            bounds = {k: rng.choice(decimals) for k in ("min", "max") if rng.random() < 0.7}
            out.append(("ModelDeployment", f"threshold={bounds}", ("spec.analysis.metrics.0.threshold", bounds)))
        elif choice == 2:
            lo, hi = rng.randrange(1, 8), rng.randrange(1, 8)
            out.append(("ModelDeployment", f"autoscaling={lo}..{hi}", (
                "spec.autoscaling", {"minReplicas": lo, "maxReplicas": hi})))
        elif choice == 3:
            trials, par = rng.randrange(1, 6), rng.randrange(1, 8)
            out.append(("TrainingJob", f"trials={trials} parallelism={par}", (
                "spec.search", {"strategy": "Random", "trials": trials, "parallelism": par,
                                "space": [{"param": "alpha", "values": ["0.1", "1"]}]})))
        else:
            low, high = rng.choice(decimals), rng.choice(decimals)
            out.append(("Dataset", f"column min={low} max={high}", ("spec.schema.columns.0", {
                "name": "sepal_length", "type": "float", "min": low, "max": high})))
    return out


PARITY = _random_mutations(seed=20261127, n=40)


def test_parity_sample_has_valid_and_invalid_manifests() -> None:
    from herder.api import InvalidSpecError
    from tests.unit.api.invalid_manifests import BASES, _set

    verdicts = set()
    for kind, _, mutation in PARITY:
        body = BASES[kind]()
        _set(*mutation)(body)
        try:
            parse_object(body)
            verdicts.add(True)
        except InvalidSpecError:
            verdicts.add(False)
    assert verdicts == {True, False}


@pytest.mark.parametrize(("kind", "what", "mutation"), PARITY, ids=[f"{k}:{w}" for k, w, _ in PARITY])
def test_models_and_api_server_agree(shared_ns: str, installed: LocalCluster, kind: str, what: str,
                                     mutation: tuple[str, Any]) -> None:
    """On random valid and invalid values of the cross-field rules, the API server (CEL) and the models (Python
    validators) accept and reject exactly the same manifests."""
    from herder.api import InvalidSpecError
    from tests.unit.api.invalid_manifests import BASES, _set

    body = BASES[kind]()
    body["metadata"] = {"name": body["metadata"]["name"]}
    _set(*mutation)(body)
    try:
        parse_object(body)
        models_accept = True
    except InvalidSpecError:
        models_accept = False
    r = installed.kubectl("apply", "--dry-run=server", "-n", shared_ns, "-f", "-", input=json.dumps(body),
                          check=False)
    server_accepts = r.returncode == 0
    assert models_accept == server_accepts, f"{what}: models {models_accept}, server {server_accepts}: {r.stderr}"
