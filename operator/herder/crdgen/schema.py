"""pydantic JSON Schema -> Kubernetes *structural* OpenAPI v3 schema.

The API server only accepts structural schemas (every node typed, no ``$ref``, no ``anyOf`` deciding the type) and
a subset of JSON Schema keywords. This walk:

- inlines ``$defs`` / ``$ref`` (sibling keywords of the reference, such as the field's description, win);
- turns ``anyOf: [X, {type: null}]`` (pydantic's ``X | None``) into plain ``X``. It deliberately does *not* add
  ``nullable: true``: for a non-nullable field the API server prunes an explicit ``null`` before validation, which
  matches the models (``None`` means "absent"), whereas a stored ``null`` would make every ``has(self.x)`` CEL
  rule true for a field the user meant to leave out;
- turns ``anyOf: [integer, string]`` into ``x-kubernetes-int-or-string: true`` alone (the branches are optional
  there, and with them a float is refused twice, once as "<nil>: must validate at least one schema (anyOf)");
- drops ``title``, ``additionalProperties: false`` (pruning does that job) and ``default: null``; keeps real
  defaults (the models set a non-None default only where the API server should apply it);
- turns ``patternProperties`` (a ``dict`` with constrained keys) into ``additionalProperties`` and drops
  ``propertyNames`` (neither is in the CRD dialect; the models still check map keys when the operator parses);
- collapses docstring line breaks, so ``kubectl explain`` wraps the text itself.

Anything else outside the CRD dialect raises, so a new pydantic construct cannot slip into a CRD unnoticed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

ALLOWED_KEYWORDS = frozenset({
    "description", "type", "format", "default", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
    "maxLength", "minLength", "pattern", "maxItems", "minItems", "multipleOf", "enum", "maxProperties",
    "minProperties", "required", "items", "properties", "additionalProperties", "anyOf", "nullable",
    "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys", "x-kubernetes-map-type", "x-kubernetes-validations", "x-kubernetes-embedded-resource",
})
DROPPED_KEYWORDS = frozenset({"title", "propertyNames", "$defs"})
NULL = {"type": "null"}
CEL = "x-kubernetes-validations"


class SchemaError(ValueError):
    """The pydantic schema uses something the CRD dialect cannot express."""


def clean_description(text: str) -> str:
    """Join wrapped docstring lines into paragraphs (blank lines stay paragraph breaks)."""
    paragraphs = re.split(r"\n\s*\n", text.strip())
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


PatternRule = Callable[[str], "dict[str, Any] | None"]
"""A pattern -> the CEL rule that replaces it (or None to keep the plain ``pattern``)."""


def to_structural(schema: dict[str, Any], pattern_rule: PatternRule | None = None) -> dict[str, Any]:
    """The structural form of a pydantic ``model_json_schema()`` (its ``$defs`` are inlined).

    With ``pattern_rule``, a ``pattern`` it knows becomes that CEL rule instead: the API server prints a failed
    pattern as the raw regex, while a rule's messageExpression can say what is expected and show the bad value.
    Defaults are appended to descriptions ("Defaults to 30s."), so ``kubectl explain`` shows them."""
    defs = schema.get("$defs", {})
    out = _walk(schema, defs, path="", stack=())
    for _, node in iter_nodes(out):
        _describe_default(node)
        if pattern_rule is not None and "pattern" in node:
            replacement = pattern_rule(node["pattern"])
            if replacement is not None:
                del node["pattern"]
                node[CEL] = [replacement, *node.get(CEL, [])]
    return out


def _describe_default(node: dict[str, Any]) -> None:
    if "default" not in node:
        return
    value = node["default"]
    # words and durations bare; numbers written as strings ("0.2") and punctuation quoted, as they are written
    plain = isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", value)
                                       and not re.fullmatch(r"[0-9.]+", value))
    shown = str(value) if plain and not isinstance(value, bool) else json.dumps(value)
    sentence = f"Defaults to {shown}."
    text = node.get("description", "")
    if sentence not in text:
        node["description"] = f"{text} {sentence}".strip()


def _resolve(ref: str, defs: dict[str, Any], path: str, stack: tuple[str, ...]) -> tuple[dict[str, Any], str]:
    prefix = "#/$defs/"
    if not ref.startswith(prefix):
        raise SchemaError(f"{path}: unsupported $ref {ref!r}")
    name = ref[len(prefix):]
    if name in stack:
        raise SchemaError(f"{path}: recursive model {name!r} cannot be expressed in a structural schema")
    if name not in defs:
        raise SchemaError(f"{path}: $ref to unknown definition {name!r}")
    return defs[name], name


def _keywords(node: dict[str, Any], defs: dict[str, Any], path: str, stack: tuple[str, ...]) -> dict[str, Any]:
    """The keywords of one (already normalised) node, each checked and its sub-schemas walked."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in DROPPED_KEYWORDS:
            continue
        if key not in ALLOWED_KEYWORDS:
            raise SchemaError(f"{path or '<root>'}: keyword {key!r} is not allowed in a CRD schema")
        if key == "description":
            out[key] = clean_description(value)
        elif key == "default":
            if value is not None:
                out[key] = value
        elif key == "properties":
            out[key] = {name: _walk(sub, defs, f"{path}.{name}", stack) for name, sub in value.items()}
        elif key == "items":
            out[key] = _walk(value, defs, f"{path}[]", stack)
        elif key == "additionalProperties":
            if value is False:
                continue
            if value is True:
                raise SchemaError(f"{path}: additionalProperties: true; use a typed map or preserve-unknown-fields")
            out[key] = _walk(value, defs, f"{path}{{}}", stack)
        else:
            out[key] = value
    return out


def _walk(node: dict[str, Any], defs: dict[str, Any], path: str, stack: tuple[str, ...]) -> dict[str, Any]:
    node = dict(node)
    if "$ref" in node:
        target, name = _resolve(node.pop("$ref"), defs, path, stack)
        resolved = _walk(target, defs, path, (*stack, name))
        overrides = _walk(node, defs, path, stack) if node else {}
        return _merge(resolved, overrides)
    if "anyOf" in node:
        return _any_of(node, defs, path, stack)
    if "allOf" in node:
        parts = node.pop("allOf")
        if len(parts) != 1:
            raise SchemaError(f"{path}: allOf with {len(parts)} parts is not supported")
        return _merge(_walk(parts[0], defs, path, stack), _walk(node, defs, path, stack) if node else {})
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "patternProperties" in node:  # a map with constrained keys: keep the value type, keys are checked by pydantic
        values = list(node.pop("patternProperties").values())
        if len(values) != 1 or ("additionalProperties" in node and node["additionalProperties"] is not False):
            raise SchemaError(f"{path}: patternProperties must have exactly one pattern")
        node["additionalProperties"] = values[0]
    out = _keywords(node, defs, path, stack)
    if "enum" in out and "type" not in out:
        out["type"] = _enum_type(out["enum"], path)
    if "properties" in out and "type" not in out:
        out["type"] = "object"
    if "properties" in out and not out["properties"]:
        del out["properties"]
    if "properties" in out and "additionalProperties" in out:
        raise SchemaError(f"{path}: properties beside additionalProperties")
    return _ordered(out)


_FIRST = ("type", "description")


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    """type and description first (readable YAML), the rest in a stable order."""
    return {**{k: node[k] for k in _FIRST if k in node}, **{k: node[k] for k in sorted(node) if k not in _FIRST}}


def _enum_type(values: list[Any], path: str) -> str:
    types = {type(v) for v in values}
    if types == {str}:
        return "string"
    if types == {int}:
        return "integer"
    if types == {bool}:
        return "boolean"
    raise SchemaError(f"{path}: enum mixes types {sorted(t.__name__ for t in types)}")


def _any_of(node: dict[str, Any], defs: dict[str, Any], path: str, stack: tuple[str, ...]) -> dict[str, Any]:
    branches = list(node.pop("anyOf"))
    rest = _walk(node, defs, path, stack) if node else {}
    non_null = [b for b in branches if b != NULL]
    if len(non_null) == 1:
        return _merge(_walk(non_null[0], defs, path, stack), rest)
    walked = [_walk(b, defs, path, stack) for b in non_null]
    # int | str, possibly nested one level by an Optional around an annotated IntOrString
    flat: list[dict[str, Any]] = []
    extras: dict[str, Any] = {}
    for b in walked:
        if "anyOf" in b:
            flat += b["anyOf"]
            extras.update({k: v for k, v in b.items() if k != "anyOf"})
        else:
            flat.append(b)
    if {b.get("type") for b in flat} == {"integer", "string"} and len(flat) == 2:
        merged = {**extras, **rest}
        string = next(b for b in flat if b.get("type") == "string")
        out: dict[str, Any] = {"x-kubernetes-int-or-string": True}
        for key in ("pattern", "maxLength"):  # string constraints apply only to string values
            if key in string:
                out[key] = string[key]
        for key in ("description", "default", CEL):
            if key in merged:
                out[key] = merged[key]
        return _ordered(out)
    raise SchemaError(f"{path}: a union of {[b.get('type') for b in flat]} cannot be expressed structurally")


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` on top; CEL rules from both are kept (the field's and the type's)."""
    out = _ordered({**base, **overrides})
    rules = [*base.get("x-kubernetes-validations", []), *overrides.get("x-kubernetes-validations", [])]
    if rules:
        out["x-kubernetes-validations"] = rules
    return out


def iter_nodes(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every schema node with its path (``.a.b[].c{}``), depth first -- for tests and rule listings. The branches
    of an int-or-string ``anyOf`` are part of their node, not nodes of their own."""
    out = [(path, schema)]
    for name, sub in schema.get("properties", {}).items():
        out += iter_nodes(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        out += iter_nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        out += iter_nodes(schema["additionalProperties"], f"{path}{{}}")
    return out
