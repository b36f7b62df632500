"""Parsing bodies into models: errors name the wire field path and the bad value."""

from __future__ import annotations

from typing import Any

import pytest

from herder.api import InvalidSpecError, kind_info, parse_object, parse_spec, parse_status
from herder.api.deployment import ModelDeploymentSpec
from herder.api.parsing import field_path


def mdep(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "herder.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "m"},
            "spec": {"model": {"name": "iris", "alias": "production"}, **spec}}


def test_field_path_formats_indices() -> None:
    assert field_path(("strategy", "canary", "steps", 1, "weight"), "spec") == "spec.strategy.canary.steps[1].weight"
    assert field_path(("a",)) == "a"


def test_error_names_path_and_value() -> None:
    body = mdep(strategy={"type": "Canary", "canary": {"steps": [{"weight": 10}, {"weight": 150}]}})
    with pytest.raises(InvalidSpecError) as e:
        parse_spec("ModelDeployment", body)
    assert "spec.strategy.canary.steps[1].weight" in str(e.value)
    assert "150" in str(e.value)
    assert e.value.field_paths == ["spec.strategy.canary.steps[1].weight"]


def test_cross_field_error_names_the_object_path() -> None:
    body = mdep(strategy={"type": "Canary", "canary": {"steps": [{"weight": 50}, {"weight": 20}]}})
    with pytest.raises(InvalidSpecError, match=r"spec\.strategy\.canary: canary step weights must be strictly"):
        parse_spec("ModelDeployment", body)


def test_unknown_field_is_rejected_with_its_path() -> None:
    with pytest.raises(InvalidSpecError, match=r"spec\.replicaz: Extra inputs are not permitted"):
        parse_spec("mdep", mdep(replicaz=3))


def test_parse_spec_returns_typed_model_with_snake_case_attributes() -> None:
    spec = parse_spec("modeldeployments", mdep(replicas=3))
    assert isinstance(spec, ModelDeploymentSpec)
    assert spec.replicas == 3
    assert spec.model.alias == "production"


def test_parse_status_of_absent_status_is_empty() -> None:
    assert parse_status("ModelDeployment", mdep()).model_dump(exclude_unset=True) == {}


def test_parse_status_reads_operator_fields() -> None:
    body = {**mdep(), "status": {"stableVersion": 3, "lastRollback": {"from": 4, "to": 3, "reason": "AnalysisFailed",
                                                                       "at": "2026-01-01T00:00:00Z"}}}
    status = parse_status("ModelDeployment", body)
    assert status.last_rollback.from_ == 4  # type: ignore[attr-defined]


def test_parse_object_rejects_unknown_kind() -> None:
    with pytest.raises(InvalidSpecError, match="kind: unknown Herder kind 'Pod'"):
        parse_object({"kind": "Pod", "metadata": {}, "spec": {}})


def test_parse_object_keeps_server_metadata() -> None:
    body = mdep()
    body["metadata"] = {"name": "m", "namespace": "ns", "uid": "u", "generation": 2,
                        "managedFields": [{"manager": "kubectl"}], "creationTimestamp": "2026-01-01T00:00:00Z"}
    obj = parse_object(body)
    assert obj.metadata.generation == 2
    assert obj.wire() == body


def test_kind_info_lookup_by_any_name() -> None:
    for name in ("ModelDeployment", "modeldeployments", "modeldeployment", "mdep"):
        assert kind_info(name).kind == "ModelDeployment"
    with pytest.raises(KeyError, match="known: Dataset"):
        kind_info("nope")


def test_salvage_reads_a_status_that_partly_does_not_parse() -> None:
    """A status field that does not validate costs that field (of a list only the bad entries); unknown fields are
    ignored; what is left out is named, with what to write instead."""
    from herder.api.deployment import ModelDeploymentStatus
    from herder.api.parsing import salvage

    good = {"stableVersion": 2, "handledRequests": {"retry": "r"},
            "analysisMetrics": [{"name": "e", "verdict": "Pass", "version": 2}]}
    read = salvage(ModelDeploymentStatus, good)
    assert read.value.wire() == good and read.problems == [] and read.repairs == {}
    assert salvage(ModelDeploymentStatus, None).value == ModelDeploymentStatus()
    assert salvage(ModelDeploymentStatus, {**good, "phase": "Old"}).repairs == {}  # pruned by the API server anyway

    bad = {**good, "canaryVersion": "two", "lastRollback": {"from": 3, "reason": "AnalysisFailed"},
           "analysisMetrics": [*good["analysisMetrics"], {"name": "l", "verdict": "Maybe"}],
           "monitoringMetrics": [{"name": "x"}]}
    read = salvage(ModelDeploymentStatus, bad)
    assert read.value.wire() == good
    assert read.repairs == {"canaryVersion": None, "lastRollback": None, "analysisMetrics": good["analysisMetrics"],
                            "monitoringMetrics": None}
    paths = [p for p, _, _ in read.problems]
    assert paths == ["status.canaryVersion", "status.lastRollback.at", "status.analysisMetrics[1].verdict",
                     "status.monitoringMetrics[0].verdict"]
    assert read.problems[0][2] == "two" and read.problems[2][2] == "Maybe"
