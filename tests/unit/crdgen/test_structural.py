"""The generated schemas are structural and in the CRD dialect: what the API server needs, and what `kubectl
explain` and CEL cost estimation rely on."""

from __future__ import annotations

import re
from typing import Any

import pytest

from herder.api import KINDS
from herder.crdgen.crd import all_crds, build_crd, cel_rules, object_schema, spec_schema
from herder.crdgen.schema import iter_nodes

CRDS = all_crds()
KIND_NAMES = sorted(KINDS)


def walk_values(node: Any) -> list[Any]:
    out = [node]
    if isinstance(node, dict):
        for v in node.values():
            out += walk_values(v)
    elif isinstance(node, list):
        for v in node:
            out += walk_values(v)
    return out


def schema_of(kind: str) -> dict[str, Any]:
    crd = CRDS[KINDS[kind].plural]
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def nodes(kind: str) -> list[tuple[str, dict[str, Any]]]:
    """Schema nodes of spec and status (apiVersion, kind and metadata are the API server's)."""
    return [(p, n) for p, n in iter_nodes(schema_of(kind)) if p.startswith((".spec", ".status"))]


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_no_refs_defs_titles(kind: str) -> None:
    for value in walk_values(schema_of(kind)):
        if isinstance(value, dict):
            assert not {"$ref", "$defs", "title", "allOf", "oneOf", "const", "propertyNames"} & value.keys(), value


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_every_node_is_typed_or_int_or_string(kind: str) -> None:
    for path, node in nodes(kind):
        if node.get("x-kubernetes-int-or-string"):
            assert "anyOf" not in node and "type" not in node, path
            continue
        assert "type" in node, path
        assert node.get("nullable") is not True, path


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_no_anyof(kind: str) -> None:
    """int-or-string is the flag alone: its optional anyOf branches only add a second, "<nil>" error for a float."""
    for path, node in nodes(kind):
        assert "anyOf" not in node, path


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_maps_never_beside_properties_and_no_free_form(kind: str) -> None:
    for path, node in nodes(kind):
        assert not ("properties" in node and "additionalProperties" in node), path
        assert node.get("additionalProperties") is not True, path
        assert "x-kubernetes-preserve-unknown-fields" not in node, path


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_no_number_type_anywhere(kind: str) -> None:
    for path, node in nodes(kind):
        assert node.get("type") != "number", f"{path}: floats are not allowed; use a decimal string"


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_every_property_has_a_description(kind: str) -> None:
    for path, node in nodes(kind):
        for name, prop in node.get("properties", {}).items():
            assert prop.get("description", "").strip(), f"{path}.{name} has no description"


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_strings_lists_and_maps_are_bounded(kind: str) -> None:
    """CEL cost estimation needs bounds; unbounded strings or lists would make rules too expensive."""
    for path, node in nodes(kind):
        t = node.get("type")
        if t == "string" or node.get("x-kubernetes-int-or-string"):
            assert "maxLength" in node or "enum" in node, f"{path}: string without maxLength"
        elif t == "array":
            assert "maxItems" in node, f"{path}: list without maxItems"
        elif t == "object" and "additionalProperties" in node:
            assert "maxProperties" in node, f"{path}: map without maxProperties"


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_enums_are_typed_strings(kind: str) -> None:
    for path, node in nodes(kind):
        if "enum" in node:
            assert node["type"] in {"string", "integer"}, path


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_defaults_only_where_meant(kind: str) -> None:
    """No null defaults, no defaults in status (the operator owns it), and list-map keys are required."""
    schema = schema_of(kind)
    for path, node in iter_nodes(schema["properties"]["status"], ".status"):
        assert "default" not in node, path
    for path, node in nodes(kind):
        if "default" in node:
            assert node["default"] is not None, path
        if node.get("x-kubernetes-list-type") == "map":
            keys = node["x-kubernetes-list-map-keys"]
            assert set(keys) <= set(node["items"].get("required", [])), path


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_crd_shape(kind: str) -> None:
    info = KINDS[kind]
    crd = build_crd(info)
    names = crd["spec"]["names"]
    assert crd["metadata"]["name"] == f"{info.plural}.herder.dev"
    assert names["categories"] == ["herder"]
    assert names["shortNames"] == list(info.short_names)
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert crd["spec"]["scope"] == "Namespaced"
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert "READY" in columns
    assert columns[-1] == "AGE"
    assert object_schema(info)["required"] == ["spec"]


def test_short_names() -> None:
    assert {k: v.short_names for k, v in KINDS.items()} == {
        "Dataset": ("dset",), "FeatureSet": ("fset",), "TrainingJob": ("tj",), "Model": ("mdl",),
        "ModelVersion": ("mv",), "ModelDeployment": ("mdep",)}


def test_modeldeployment_printer_columns() -> None:
    version = CRDS["modeldeployments"]["spec"]["versions"][0]
    default = [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]
    assert default == ["MODEL", "STABLE", "CANARY", "WEIGHT", "READY", "URL", "AGE"]


def test_modelversion_spec_is_immutable() -> None:
    rules = spec_schema(KINDS["ModelVersion"])["x-kubernetes-validations"]
    assert any(r["rule"] == "self == oldSelf" for r in rules)


def test_estimator_allowlist_is_an_enum() -> None:
    from herder.api.training import ESTIMATORS

    schema = spec_schema(KINDS["TrainingJob"])
    assert schema["properties"]["estimator"]["properties"]["class"]["enum"] == list(ESTIMATORS)


def test_canary_rule_sits_on_the_steps_list() -> None:
    rules = {p: r["rule"] for p, r in cel_rules(KINDS["ModelDeployment"])}
    assert "isSorted()" in rules[".spec.strategy.canary.steps"]


def test_every_cel_rule_has_a_message() -> None:
    for info in KINDS.values():
        for path, r in cel_rules(info):
            assert r["message"], path
            assert set(r) <= {"rule", "message", "messageExpression", "reason", "fieldPath", "optionalOldSelf"}


CEL_METHODS = {"map", "all", "exists", "exists_one", "filter", "size", "isSorted", "matches", "metadata", "lowerAscii",
               "transformList"}


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_cel_rules_reference_existing_fields(kind: str) -> None:
    """A renamed field must not leave a rule pointing at nothing (the API server would only say "no such key")."""
    for path, node in iter_nodes(schema_of(kind)):
        for r in node.get("x-kubernetes-validations", []):
            for expr in (r["rule"], r.get("messageExpression", "")):
                for name in re.findall(r"\bself\.([A-Za-z_][A-Za-z0-9_]*)", expr):
                    if name in CEL_METHODS:
                        continue
                    assert name in node.get("properties", {}), f"{kind} {path}: rule uses self.{name}: {expr}"
            if "fieldPath" in r:
                target = node
                for part in r["fieldPath"].strip(".").split("."):
                    target = target["properties"][part]


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_printer_columns_point_at_schema_fields(kind: str) -> None:
    schema = schema_of(kind)
    for column in CRDS[KINDS[kind].plural]["spec"]["versions"][0]["additionalPrinterColumns"]:
        path = re.sub(r"\[[^\]]*\]", "", column["jsonPath"])  # drop list filters such as [?(@.type=="Ready")]
        if path.startswith(".metadata"):
            continue
        node = schema
        for part in path.strip(".").split("."):
            node = node["properties"][part] if "properties" in node else node["items"]["properties"][part]
        if column["type"] == "integer":
            assert node["type"] == "integer", path


def test_trainingjob_spec_is_immutable() -> None:
    rules = spec_schema(KINDS["TrainingJob"])["x-kubernetes-validations"]
    assert any(r["rule"] == "self == oldSelf" for r in rules)
    # ...but the Model's training template (same fields) stays editable
    model = spec_schema(KINDS["Model"])["properties"]["training"]
    assert "x-kubernetes-validations" not in model
