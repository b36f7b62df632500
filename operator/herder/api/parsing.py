"""Turn a body dict (from a watch event or a YAML file) into the typed model, with errors that name the field path
and the bad value the way the API server does ("spec.strategy.canary.steps[1].weight: ... (got 150)")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from herder.api.common import WireModel, pattern_hint
from herder.api.objects import AnyResource, Resource
from herder.api.registry import kind_info

M = TypeVar("M", bound=BaseModel)

_MAX_SHOWN = 5


class InvalidSpecError(ValueError):
    """A body does not match the API; ``str()`` lists each problem as ``path: message (got value)``."""

    def __init__(self, problems: list[tuple[str, str, Any]]) -> None:
        self.problems = problems
        super().__init__(format_problems(problems))

    @property
    def field_paths(self) -> list[str]:
        return [p for p, _, _ in self.problems]


def field_path(loc: tuple[int | str, ...], root: str = "") -> str:
    """``("strategy", "canary", "steps", 1, "weight")`` -> ``spec.strategy.canary.steps[1].weight``."""
    out = root
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def format_problems(problems: list[tuple[str, str, Any]]) -> str:
    parts = []
    for path, message, value in problems[:_MAX_SHOWN]:
        # messages that already show the value (the models' twins of the CEL messages) are kept as they are
        shown = "" if isinstance(value, dict | list) or value is None or "(got " in message \
            else f" (got {_short(value)})"
        parts.append(f"{path or '<root>'}: {message}{shown}")
    if len(problems) > _MAX_SHOWN:
        parts.append(f"... and {len(problems) - _MAX_SHOWN} more")
    return "; ".join(parts)


def problems_of(error: ValidationError, root: str = "") -> list[tuple[str, str, Any]]:
    """The (path, message, bad value) triples of a pydantic error, with wire (camelCase) names."""
    out = []
    for e in error.errors(include_url=False):
        message = str(e["msg"]).removeprefix("Value error, ")
        if e["type"] == "string_pattern_mismatch":  # the regex means little to a user: say what is expected
            message = pattern_hint(str((e.get("ctx") or {}).get("pattern", "")), e.get("input")) or message
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        out.append((field_path(loc, root), message, e.get("input")))
    return out


def parse_model(model: type[M], data: Any, root: str = "") -> M:
    """Validate ``data`` into ``model``; raise :class:`InvalidSpecError` naming each bad field under ``root``."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise InvalidSpecError(problems_of(e, root)) from None


def parse_spec(kind: str, body: Mapping[str, Any]) -> WireModel:
    """The typed spec of a body of ``kind`` (paths in errors start with ``spec``)."""
    return parse_model(kind_info(kind).spec_model, body.get("spec"), "spec")


def parse_status(kind: str, body: Mapping[str, Any]) -> WireModel:
    """The typed status of a body of ``kind`` (an absent status parses as empty)."""
    return parse_model(kind_info(kind).status_model, body.get("status") or {}, "status")


@dataclass(frozen=True)
class Salvaged(Generic[M]):
    """What :func:`salvage` made of a status: the typed value and what had to be left out of it."""

    value: M
    problems: list[tuple[str, str, Any]] = field(default_factory=list)
    """(path, message, bad value) of each part left out, as :func:`problems_of` names them."""
    repairs: dict[str, Any] = field(default_factory=dict)
    """Top-level wire field -> what to write instead of the damaged value: the list without its bad entries, or
    None (remove the field)."""


def salvage(model: type[M], data: Mapping[str, Any] | None, root: str = "status") -> Salvaged[M]:
    """Read a status the operator wrote earlier (an older operator, a hand edit, a partial fixture) into ``model``
    without failing: unknown top-level fields are ignored (the API server prunes them anyway); a field that does
    not validate is left out -- of a list field only the bad entries, of any other field the whole field (its
    parts depend on each other: half a lastRollback would be a different record). A spec is parsed strictly
    (:func:`parse_model`); status is the operator's own memory, where a damaged field must cost that field, not
    every reconcile of the object."""
    known = {f.alias or name for name, f in model.model_fields.items()}
    clean = {k: v for k, v in (data or {}).items() if k in known}
    problems: list[tuple[str, str, Any]] = []
    repairs: dict[str, Any] = {}
    for _ in range(4):  # each pass removes at least one bad part; nested lists need at most a few
        try:
            return Salvaged(model.model_validate(clean), problems, repairs)
        except ValidationError as e:
            bad_items: dict[str, set[int]] = {}
            for (path, message, value), err in zip(problems_of(e, root), e.errors(include_url=False), strict=True):
                loc = err["loc"]
                key = loc[0] if loc else None  # a model-level error names no field: the fallback below
                if not isinstance(key, str) or key not in clean:
                    continue
                problems.append((path, message, value))
                if isinstance(clean[key], list) and len(loc) > 1 and isinstance(loc[1], int):
                    bad_items.setdefault(key, set()).add(loc[1])
                else:
                    del clean[key]
                    repairs[key] = None
            for key, items in bad_items.items():
                if key in clean:
                    kept = [x for i, x in enumerate(clean[key]) if i not in items]
                    clean[key] = kept
                    repairs[key] = kept or None
                    if not kept:
                        del clean[key]
    problems.append((root, "could not be read as a whole; every field is treated as absent", None))
    return Salvaged(model.model_validate({}), problems, dict.fromkeys(clean, None) | repairs)


def parse_object(body: Mapping[str, Any]) -> AnyResource:
    """The whole typed object; the model is chosen by ``body["kind"]``."""
    kind = body.get("kind")
    if not isinstance(kind, str):
        raise InvalidSpecError([("kind", "missing or not a string", kind)])
    try:
        model = kind_info(kind).resource_model
    except KeyError as e:
        raise InvalidSpecError([("kind", str(e.args[0]), kind)]) from None
    obj: Resource[Any, Any] = parse_model(model, body)
    return obj  # type: ignore[return-value]
