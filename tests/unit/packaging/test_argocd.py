"""The Argo CD health checks and resource actions, run as Argo CD runs them (Lua 5.1, sandboxed) against
representative objects of every kind, and the generated argocd-cm snippet kept in step with the Lua files."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import lupa.lua51 as lua
import pytest
import yaml

from tests.unit.packaging.luasandbox import (
    ARGOCD,
    HEALTH_STATUSES,
    KINDS,
    ROOT,
    action,
    discovery,
    health,
    health_script,
    run,
)


def cond(ctype: str, status: str, reason: str = "", message: str = "", generation: int = 1) -> dict[str, Any]:
    return {"type": ctype, "status": status, "reason": reason, "message": message,
            "observedGeneration": generation, "lastTransitionTime": "2026-01-01T00:00:00Z"}


def obj(kind: str, *conditions: dict[str, Any], generation: int = 1, observed: int | None = 1,
        annotations: dict[str, str] | None = None, **status: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "x", "namespace": "ml", "generation": generation, "uid": "u-1",
                            "labels": {"team": "a"}}
    if annotations is not None:
        meta["annotations"] = annotations
    body: dict[str, Any] = {"apiVersion": "herder.dev/v1alpha1", "kind": kind, "metadata": meta,
                            "spec": {"model": {"name": "iris"}, "steps": [{"weight": 20}], "empty": []}}
    if conditions or status or observed is not None:
        body["status"] = dict(status)
        if observed is not None:
            body["status"]["observedGeneration"] = observed
        if conditions:
            body["status"]["conditions"] = list(conditions)
    return body


READY = cond("Ready", "True", "Ready", "all good")
REFS_OK = cond("ReferencesResolved", "True", "Resolved")

# (kind, object, expected health, a fragment the message must contain)
CASES: list[tuple[str, str, dict[str, Any], str, str]] = [
    # Dataset
    ("dataset-new", "Dataset", obj("Dataset", observed=None), "Progressing", "Waiting for the Herder operator"),
    ("dataset-validated", "Dataset",
     obj("Dataset", cond("Ready", "True", "Validated", "1500 rows, digest sha256:ab"), cond("Validated", "True")),
     "Healthy", "1500 rows"),
    ("dataset-validating", "Dataset", obj("Dataset", cond("Ready", "False", "Validating", "validation Job running")),
     "Progressing", "Validating: validation Job running"),
    ("dataset-invalid", "Dataset",
     obj("Dataset", cond("Ready", "False", "InvalidSpec", "spec.source.format: 'xls' is not csv or parquet")),
     "Degraded", "InvalidSpec: spec.source.format"),
    ("dataset-failed-validation", "Dataset",
     obj("Dataset", cond("Ready", "False", "ValidationFailed", "column age: 40% nulls > 5%"),
         cond("Validated", "False", "ValidationFailed")),
     "Degraded", "column age"),
    ("dataset-new-generation", "Dataset", obj("Dataset", READY, generation=2, observed=1),
     "Progressing", "observe generation 2"),
    ("dataset-stale-condition", "Dataset", obj("Dataset", READY, generation=3, observed=None),
     "Progressing", "observe generation 3"),
    ("dataset-no-ready-yet", "Dataset", obj("Dataset", cond("Validated", "Unknown")), "Progressing", "Ready"),
    # FeatureSet
    ("featureset-ready", "FeatureSet", obj("FeatureSet", READY, featureNames=["a", "b"]), "Healthy", "all good"),
    ("featureset-pending", "FeatureSet", obj("FeatureSet", cond("Ready", "False", "Pending")),
     "Progressing", "Pending"),
    ("featureset-invalid", "FeatureSet",
     obj("FeatureSet", cond("Ready", "False", "InvalidSpec", "transforms[0].columns: empty")),
     "Degraded", "transforms[0].columns"),
    ("featureset-stalled", "FeatureSet", obj("FeatureSet", READY, cond("Stalled", "True", "ReconcileError", "boom")),
     "Degraded", "Stalled: ReconcileError: boom"),
    # TrainingJob
    ("trainingjob-succeeded", "TrainingJob",
     obj("TrainingJob", READY, cond("Succeeded", "True", "Succeeded", "accuracy 0.97"), cond("Failed", "False"),
         producedVersion="iris-v3"),
     "Healthy", "produced version iris-v3"),
    ("trainingjob-failed", "TrainingJob",
     obj("TrainingJob", cond("Ready", "False", "TrainingFailed", "x"),
         cond("Failed", "True", "TrainerError", "ValueError: Input contains NaN"), cond("Succeeded", "False")),
     "Degraded", "Failed: TrainerError: ValueError: Input contains NaN"),
    ("trainingjob-running", "TrainingJob",
     obj("TrainingJob", READY, REFS_OK, cond("Running", "True", "Training", "3/8 trials done")),
     "Progressing", "Training: 3/8 trials done"),
    ("trainingjob-ready-not-done", "TrainingJob", obj("TrainingJob", READY), "Progressing", "not finished"),
    ("trainingjob-pending", "TrainingJob", obj("TrainingJob", cond("Ready", "False", "Pending", "Job created")),
     "Progressing", "Job created"),
    ("trainingjob-dataset-missing", "TrainingJob",
     obj("TrainingJob", cond("Ready", "False", "DatasetNotFound", "Dataset ml/iris not found"),
         cond("ReferencesResolved", "False", "DatasetNotFound", "Dataset ml/iris not found")),
     "Degraded", "Dataset ml/iris not found"),
    # Model
    ("model-ready", "Model",
     obj("Model", READY, latestVersion=4, aliases={"production": 3, "candidate": 4}),
     "Healthy", "production 3, candidate 4"),
    ("model-retrain-pending", "Model",
     obj("Model", READY, aliases={"production": 3}, retraining={"pendingApproval": "DataDrift"}),
     "Healthy", "production 3 (Ready: all good); retrain awaiting approval (DataDrift)"),
    ("model-awaiting-approval", "Model",
     obj("Model", cond("Ready", "False", "AwaitingApproval", "retraining needs herder.dev/approve"),
         aliases={"production": 3}),
     "Suspended", "AwaitingApproval"),
    ("model-error", "Model", obj("Model", cond("Ready", "False", "ReconcileError", "409 conflict")),
     "Degraded", "ReconcileError: 409 conflict"),
    ("model-unknown", "Model", obj("Model", cond("Ready", "Unknown", "", "")), "Progressing", ""),
    ("model-no-production-yet", "Model",
     obj("Model", cond("Ready", "False", "NoProductionVersion", "0 version(s), no production version yet")),
     "Progressing", "no production version yet"),
    # ModelVersion
    ("modelversion-ready", "ModelVersion", obj("ModelVersion", READY, cond("Rejected", "False")), "Healthy", "good"),
    ("modelversion-rejected", "ModelVersion",
     obj("ModelVersion", cond("Ready", "True"), cond("Rejected", "True", "GateFailed", "accuracy 0.81 < 0.90")),
     "Degraded", "Rejected by the promotion gate: GateFailed: accuracy 0.81 < 0.90"),
    ("modelversion-model-missing", "ModelVersion",
     obj("ModelVersion", cond("Ready", "False", "ModelNotFound", "Model ml/iris not found")),
     "Degraded", "ModelNotFound"),
    ("modelversion-validating", "ModelVersion", obj("ModelVersion", cond("Ready", "False", "Validating")),
     "Progressing", "Validating"),
    # ModelDeployment
    ("mdep-healthy", "ModelDeployment",
     obj("ModelDeployment", READY, cond("Progressing", "False", "Complete"), cond("Degraded", "False"),
         stableVersion="iris-v3", url="http://iris.ml.svc/v1/models/iris"),
     "Healthy", "serving iris-v3"),
    ("mdep-canary", "ModelDeployment",
     obj("ModelDeployment", READY, cond("Progressing", "True", "RollingOut", "analysis passing"),
         stableVersion="iris-v3", canaryVersion="iris-v4", canaryWeight=20, currentStep=1),
     "Progressing", "canary iris-v4 at 20%, step 1: RollingOut: analysis passing"),
    ("mdep-paused", "ModelDeployment",
     obj("ModelDeployment", READY, cond("Progressing", "True", "Paused", "paused at step 2 until promoted"),
         stableVersion="iris-v3", canaryVersion="iris-v4", canaryWeight=50, currentStep=2, paused=True),
     "Suspended", "Rollout paused (canary iris-v4 at 50%, step 2): paused at step 2"),
    ("mdep-rolled-back", "ModelDeployment",
     obj("ModelDeployment", READY, cond("Progressing", "False", "RolledBack"),
         cond("Degraded", "True", "RolledBack", "error rate 7% > 1% for 3 intervals"), stableVersion="iris-v3",
         lastRollback={"from": "iris-v4", "to": "iris-v3", "reason": "ErrorRate", "at": "2026-01-01T00:00:00Z"}),
     "Degraded", "error rate 7% > 1% for 3 intervals (rolled back from iris-v4 to iris-v3)"),
    ("mdep-model-missing", "ModelDeployment",
     obj("ModelDeployment", cond("Ready", "False", "ModelNotFound", "Model ml/iris not found"),
         cond("Progressing", "True", "Progressing")),
     "Degraded", "ModelNotFound: Model ml/iris not found"),
    ("mdep-starting", "ModelDeployment",
     obj("ModelDeployment", cond("Ready", "False", "Progressing", "0/2 replicas ready")),
     "Progressing", "0/2 replicas ready"),
    ("mdep-new-generation", "ModelDeployment",
     obj("ModelDeployment", READY, stableVersion="iris-v3", generation=5, observed=4),
     "Progressing", "observe generation 5"),
]


@pytest.mark.parametrize(("kind", "body", "expected", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_health(kind: str, body: dict[str, Any], expected: str, fragment: str) -> None:
    hs = health(kind, body)
    assert hs["status"] == expected, hs
    assert fragment in hs.get("message", ""), hs


def test_every_kind_covers_every_verdict_it_can_give() -> None:
    """Each kind is exercised as Healthy, Progressing and Degraded; Suspended where a person is awaited."""
    seen: dict[str, set[str]] = {k: set() for k in KINDS}
    for _, kind, _, expected, _ in CASES:
        seen[kind].add(expected)
    for kind in KINDS:
        assert {"Healthy", "Progressing", "Degraded"} <= seen[kind], (kind, seen[kind])
    assert "Suspended" in seen["ModelDeployment"]
    assert "Suspended" in seen["Model"]


@pytest.mark.parametrize("kind", KINDS)
def test_health_always_answers_with_a_known_status(kind: str) -> None:
    """Odd shapes (no status, empty conditions, missing reasons) never crash the script."""
    odd: list[dict[str, Any]] = [
        {"metadata": {"name": "x"}},
        {"metadata": {"name": "x"}, "status": {}},
        {"metadata": {"name": "x"}, "status": {"conditions": []}},
        {"metadata": {"name": "x", "generation": 1}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}},
    ]
    for body in odd:
        hs = health(kind, body)
        assert hs["status"] in HEALTH_STATUSES
        assert hs["status"] == "Progressing", (body, hs)
        assert isinstance(hs.get("message", ""), str)


LIBRARY = ARGOCD / "health" / "lib.lua"


def _part(kind: str) -> str:
    return (ARGOCD / "health" / f"herder.dev_{kind}" / "health.lua").read_text()


def _definitions(text: str) -> list[str]:
    """The names a Lua text defines at top level (``local function f`` / ``local NAME =``)."""
    return re.findall(r"^local (?:function )?(\w+)", text, re.M)


def test_health_scripts_exist_for_every_kind_next_to_one_library() -> None:
    entries = list((ARGOCD / "health").iterdir())
    assert sorted(p.name for p in entries if p.is_dir()) == sorted(f"herder.dev_{k}" for k in KINDS)
    assert [p.name for p in entries if not p.is_dir()] == ["lib.lua"]


@pytest.mark.parametrize("kind", KINDS)
def test_assembled_health_script_carries_the_library_once(kind: str) -> None:
    """Argo CD needs each script self-contained: the library is pasted in exactly once, where the kind's part
    says, and the kind's part keeps no copy of its own (a stale copy would shadow or drift from the library)."""
    library, part, script = LIBRARY.read_text(), _part(kind), health_script(kind)
    names = _definitions(library)
    assert {"condition", "describe", "unobserved", "from_ready", "bad_news"} <= set(names)
    assert script.count(library) == 1
    for name in names:
        assert len(re.findall(rf"^local (?:function )?{name}\b", script, re.M)) == 1, name
    assert not set(_definitions(part)) & set(names)
    code = {s for s in (line.strip() for line in library.splitlines()) if len(s) >= 20 and not s.startswith("--")}
    assert not [line for line in part.splitlines() if line.strip() in code]
    include = [line for line in part.splitlines(keepends=True) if line.startswith("-- INCLUDE lib.lua")]
    assert len(include) == 1
    before, after = part.split(include[0])
    assert script.startswith(before) and script.endswith(after)


def test_sandbox_refuses_what_argo_cd_refuses(tmp_path: Path) -> None:
    """The harness is as strict as Argo CD: io/require/os.execute are not there."""
    for snippet in ("return io.open('/etc/passwd')", "return require('os')", "return os.execute('true')",
                    "return python.eval('1')"):
        script = tmp_path / "bad.lua"
        script.write_text(snippet)
        with pytest.raises(lua.LuaError):
            run(script, {"metadata": {}})
    script = tmp_path / "version.lua"
    script.write_text("return _VERSION")
    assert run(script, {}) == "Lua 5.1"


# ---- actions -------------------------------------------------------------------------------------------

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ACTIONS = {"Model": ("approve", "promote", "retrain"), "ModelDeployment": ("promote", "retry", "rollback")}
# action -> the annotation it sets (names from herder.api.annotations, the operator's contract)
ANNOTATION = {("Model", "retrain"): "herder.dev/retrain", ("Model", "approve"): "herder.dev/approve-retrain",
              ("Model", "promote"): "herder.dev/promote", ("ModelDeployment", "promote"): "herder.dev/promote",
              ("ModelDeployment", "retry"): "herder.dev/retry", ("ModelDeployment", "rollback"): "herder.dev/rollback",
              ("Dataset", "refresh"): "herder.dev/refresh"}
ACTIONABLE: dict[str, Any] = {"aliases": {"production": 3, "candidate": 4},
                              "retraining": {"pendingApproval": "DataDrift"},
                              "stableVersion": "iris-v3", "canaryVersion": "iris-v4"}


def _strip_annotation(body: dict[str, Any], key: str) -> dict[str, Any]:
    out = copy.deepcopy(body)
    out["metadata"].setdefault("annotations", {}).pop(key, None)
    return out


def _normalize(value: Any) -> Any:
    """Lua cannot tell [] from {}: compare empty containers as equal (Argo CD restores them from the original)."""
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()} if value else None
    if isinstance(value, list):
        return [_normalize(v) for v in value] if value else None
    return value


@pytest.mark.parametrize(("kind", "name"), sorted(ANNOTATION))
@pytest.mark.parametrize("existing", [None, {"team.example/owner": "ml"}])
def test_action_sets_only_its_annotation(kind: str, name: str, existing: dict[str, str] | None) -> None:
    body = obj(kind, READY, annotations=copy.deepcopy(existing), **ACTIONABLE)
    out = action(kind, name, body)
    key = ANNOTATION[(kind, name)]
    assert TIMESTAMP.match(str(out["metadata"]["annotations"][key])), out["metadata"]
    # Nothing else changed: not spec, not status, not the other annotations or labels.
    assert _normalize(_strip_annotation(out, key)) == _normalize(_strip_annotation(body, key))
    assert _normalize(out["spec"]) == _normalize(body["spec"])
    for k, v in (existing or {}).items():
        assert out["metadata"]["annotations"][k] == v


def _operator_annotations() -> tuple[str, ...]:
    from herder.api import annotations

    return tuple(annotations.ALL)


@pytest.mark.parametrize("key", sorted(set(ANNOTATION.values())))
def test_every_action_annotation_is_one_the_operator_defines(key: str) -> None:
    assert key in _operator_annotations()


def test_every_operator_annotation_has_an_action() -> None:
    assert set(_operator_annotations()) == set(ANNOTATION.values())


def test_action_replaces_an_earlier_request() -> None:
    body = obj("ModelDeployment", READY, annotations={"herder.dev/promote": "2000-01-01T00:00:00Z"})
    out = action("ModelDeployment", "promote", body)
    assert out["metadata"]["annotations"]["herder.dev/promote"] != "2000-01-01T00:00:00Z"


@pytest.mark.parametrize(("name", "status", "message"), [
    ("approve", {"aliases": {"production": 3}}, "nothing to approve"),
    ("promote", {"aliases": {"production": 3, "candidate": 3}}, "nothing to promote"),
    ("promote", {}, "nothing to promote"),
])
def test_model_actions_refuse_when_nothing_is_pending(name: str, status: dict[str, Any], message: str) -> None:
    with pytest.raises(lua.LuaError, match=message):
        action("Model", name, obj("Model", READY, **status))


@pytest.mark.parametrize("kind", sorted(ACTIONS))
def test_discovery_lists_exactly_the_defined_actions(kind: str) -> None:
    found = discovery(kind, obj(kind, READY))
    assert tuple(sorted(found)) == ACTIONS[kind]
    on_disk = tuple(sorted(p.parent.name for p in (ARGOCD / "actions" / kind).glob("*/action.lua")))
    assert on_disk == ACTIONS[kind]
    for spec in found.values():
        assert isinstance(spec["disabled"], bool)


def test_model_discovery() -> None:
    pending = discovery("Model", obj("Model", READY, **ACTIONABLE))
    assert {n: a["disabled"] for n, a in pending.items()} == {"retrain": False, "approve": False, "promote": False}
    assert "4" in pending["promote"]["displayName"]
    idle = discovery("Model", obj("Model", READY, aliases={"production": 3}))
    assert {n: a["disabled"] for n, a in idle.items()} == {"retrain": False, "approve": True, "promote": True}
    busy = discovery("Model", obj("Model", READY, retraining={"inFlight": "iris-retrain-7"}))
    assert busy["retrain"]["disabled"] is True
    fresh = discovery("Model", obj("Model", observed=None))
    assert (fresh["approve"]["disabled"], fresh["promote"]["disabled"]) == (True, True)


def test_modeldeployment_discovery() -> None:
    steady = discovery("ModelDeployment", obj("ModelDeployment", READY, stableVersion="v3"))
    assert (steady["promote"]["disabled"], steady["rollback"]["disabled"], steady["retry"]["disabled"]) == (
        True, False, True)
    canary = discovery("ModelDeployment", obj("ModelDeployment", READY, cond("Progressing", "True"),
                                              stableVersion="v3", canaryVersion="v4"))
    assert canary["promote"]["disabled"] is False
    paused = discovery("ModelDeployment", obj("ModelDeployment", READY, stableVersion="v3", paused=True))
    assert paused["promote"]["disabled"] is False
    aborted = discovery("ModelDeployment", obj("ModelDeployment", READY, cond("Degraded", "True", "RolledBack"),
                                               stableVersion="v3"))
    assert aborted["retry"]["disabled"] is False
    aborted_version = discovery("ModelDeployment", obj("ModelDeployment", READY, abortedVersion=4,
                                                       lastKnownGoodVersion=3))
    assert (aborted_version["retry"]["disabled"], aborted_version["rollback"]["disabled"]) == (False, False)
    fresh = discovery("ModelDeployment", obj("ModelDeployment", observed=None))
    assert all(a["disabled"] for a in fresh.values())


# ---- the argocd-cm snippet -------------------------------------------------------------------------------

def test_argocd_cm_is_up_to_date() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "hack" / "gen-argocd-cm.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_argocd_cm_carries_every_script_verbatim() -> None:
    docs = [d for d in yaml.safe_load_all((ARGOCD / "argocd-cm.yaml").read_text()) if d]
    assert len(docs) == 1
    data = docs[0]["data"]
    for kind in KINDS:
        assert data[f"resource.customizations.health.herder.dev_{kind}"] == health_script(kind)
    for kind, names in ACTIONS.items():
        actions = yaml.safe_load(data[f"resource.customizations.actions.herder.dev_{kind}"])
        assert actions["discovery.lua"] == (ARGOCD / "actions" / kind / "discovery.lua").read_text()
        assert tuple(d["name"] for d in actions["definitions"]) == names
        for d in actions["definitions"]:
            assert d["action.lua"] == (ARGOCD / "actions" / kind / d["name"] / "action.lua").read_text()
