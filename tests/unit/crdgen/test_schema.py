"""The pydantic -> structural walk on small hand-written schemas."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, Field

from herder.api.common import IntOrString, Quantity, WireModel, rule, rules
from herder.crdgen.schema import SchemaError, clean_description, to_structural


class Inner(WireModel):
    """Inner docs."""

    model_config = {"json_schema_extra": rules(rule("self.a > 0", "a must be positive"))}

    a: int
    """An integer."""


class Outer(WireModel):
    """Outer docs."""

    inner: Inner | None = None
    """The field's own description wins over the type's."""
    count: Annotated[int, Field(ge=1)] = 3
    """Has a default."""
    labels: Annotated[dict[str, str], Field(max_length=4)] | None = None
    """A typed map."""
    size: Quantity | None = None
    """A quantity."""
    param: IntOrString
    """Int or string."""


def test_inlines_refs_and_keeps_field_description_and_type_rules() -> None:
    s = to_structural(Outer.model_json_schema(by_alias=True))
    inner = s["properties"]["inner"]
    assert inner["type"] == "object"
    assert inner["description"] == "The field's own description wins over the type's."
    assert inner["x-kubernetes-validations"] == [{"rule": "self.a > 0", "message": "a must be positive"}]
    assert inner["properties"]["a"] == {"type": "integer", "description": "An integer."}
    assert "nullable" not in inner


def test_defaults_kept_nulls_dropped() -> None:
    s = to_structural(Outer.model_json_schema(by_alias=True))
    assert s["properties"]["count"]["default"] == 3
    assert "default" not in s["properties"]["inner"]


def test_maps_and_int_or_string() -> None:
    s = to_structural(Outer.model_json_schema(by_alias=True))
    assert s["properties"]["labels"] == {"type": "object", "description": "A typed map.",
                                         "additionalProperties": {"type": "string"}, "maxProperties": 4}
    size = s["properties"]["size"]
    assert size["x-kubernetes-int-or-string"] is True
    assert "anyOf" not in size
    assert "isQuantity(self)" in size["x-kubernetes-validations"][0]["rule"]  # the API server's own parser
    assert s["properties"]["param"]["x-kubernetes-int-or-string"] is True
    assert s["required"] == ["param"]


def test_rejects_floats_unions_and_free_form() -> None:
    class Union(BaseModel):
        x: int | bool

    class Free(BaseModel):
        model_config = {"extra": "allow"}
        x: int

    with pytest.raises(SchemaError, match="cannot be expressed structurally"):
        to_structural(Union.model_json_schema())
    with pytest.raises(SchemaError, match="additionalProperties: true"):
        to_structural(Free.model_json_schema())


def test_rejects_recursion() -> None:
    class Node(BaseModel):
        child: Node | None = None

    with pytest.raises(SchemaError, match="recursive"):
        to_structural(Node.model_json_schema())


def test_clean_description_joins_wrapped_lines() -> None:
    assert clean_description("a\n   b\n\n c") == "a b\n\nc"
