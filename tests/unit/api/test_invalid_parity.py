"""The models reject every invalid manifest the API server rejects (see invalid_manifests.py), naming a path
under the same field; so the operator's parse agrees with admission."""

from __future__ import annotations

import pytest

from herder.api import InvalidSpecError, parse_object
from tests.unit.api.invalid_manifests import BASES, CASES, Case


def test_the_table_is_large_and_covers_every_kind() -> None:
    assert len(CASES) >= 100
    assert len({c.id for c in CASES}) == len(CASES)
    assert {c.kind for c in CASES} == set(BASES)


@pytest.mark.parametrize("kind", sorted(BASES))
def test_bases_are_valid(kind: str) -> None:
    parse_object(BASES[kind]())


@pytest.mark.parametrize("case", [c for c in CASES if not c.server_only], ids=lambda c: c.id)
def test_models_reject(case: Case) -> None:
    with pytest.raises(InvalidSpecError) as e:
        parse_object(case.manifest())
    paths = e.value.field_paths
    assert any(p.startswith(case.path) or case.path.startswith(p) for p in paths), (case.path, str(e.value))
    for text in case.expect:  # the bad value and the hint, as the API server says them
        assert text in str(e.value), (text, str(e.value))
