"""Build the CustomResourceDefinition of one kind from its :class:`~herder.api.registry.KindInfo`."""

from __future__ import annotations

from typing import Any

from herder.api.common import PATTERN_HINTS, PATTERN_MESSAGES, cel_string
from herder.api.registry import CATEGORY, KINDS, KindInfo
from herder.crdgen.schema import clean_description, iter_nodes, to_structural


def pattern_rule(pattern: str) -> dict[str, Any] | None:
    """The CEL rule standing in for a spec field's ``pattern``: the hint of :data:`PATTERN_HINTS` instead of the
    regex (the API server shows the bad value of a scalar itself: ``Invalid value: "5%": expected ...``). Patterns
    without a hint stay plain patterns."""
    hint = PATTERN_HINTS.get(pattern)
    if hint is None:
        return None
    out = {"rule": f"self.matches({cel_string(pattern)})", "message": hint}
    if pattern in PATTERN_MESSAGES:
        out["messageExpression"] = PATTERN_MESSAGES[pattern]
    return out


def spec_schema(info: KindInfo) -> dict[str, Any]:
    """The structural schema of the kind's spec (patterns become rules with hints)."""
    return to_structural(info.spec_model.model_json_schema(by_alias=True, mode="validation"), pattern_rule)


def status_schema(info: KindInfo) -> dict[str, Any]:
    """The structural schema of the kind's status."""
    return to_structural(info.status_model.model_json_schema(by_alias=True, mode="validation"))


def object_schema(info: KindInfo) -> dict[str, Any]:
    """The ``openAPIV3Schema`` of the kind: apiVersion, kind, metadata, spec (required) and status."""
    root: dict[str, Any] = {
        "type": "object",
        "description": clean_description(info.description),
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of this object: herder.dev/v1alpha1."},
            "kind": {"type": "string", "description": f"Kind of this object: {info.kind}."},
            # name declared so that the object-level rules on it can point there (fieldPath), not at "<nil>"
            "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
            "spec": spec_schema(info),
            "status": status_schema(info),
        },
        "required": ["spec"],
    }
    if info.root_rules:
        root["x-kubernetes-validations"] = list(info.root_rules)
    return root


def build_crd(info: KindInfo) -> dict[str, Any]:
    """The CustomResourceDefinition manifest (apiextensions.k8s.io/v1) of one kind."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": info.crd_name,
            "labels": {"app.kubernetes.io/name": "herder", "app.kubernetes.io/part-of": "herder"},
        },
        "spec": {
            "group": info.group,
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": info.singular,
                "shortNames": list(info.short_names),
                "categories": [CATEGORY],
            },
            "scope": "Namespaced",
            "versions": [{
                "name": info.version,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [c.to_crd() for c in info.printer_columns],
                "schema": {"openAPIV3Schema": object_schema(info)},
            }],
        },
    }


def all_crds() -> dict[str, dict[str, Any]]:
    """plural -> CRD manifest, for every kind."""
    return {info.plural: build_crd(info) for info in KINDS.values()}


def cel_rules(info: KindInfo) -> list[tuple[str, dict[str, Any]]]:
    """Every CEL rule of the kind with the schema path it is attached to (documentation and tests)."""
    out = []
    for path, node in iter_nodes(object_schema(info)):
        out += [(path or "<root>", r) for r in node.get("x-kubernetes-validations", [])]
    return out
