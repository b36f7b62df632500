"""Decimal strings, durations and digests: exact, no floats."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from herder.api import Threshold, digest_hex, duration_ms, from_decimal, sha256_digest, to_decimal
from herder.api.common import DecimalString, Fraction

DEC = TypeAdapter(DecimalString)
FRAC = TypeAdapter(Fraction)


@pytest.mark.parametrize("text", ["0", "1", "-1.5", "0.05", "200", "3.141592653589"])
def test_decimal_strings_accepted(text: str) -> None:
    assert DEC.validate_python(text) == text


@pytest.mark.parametrize("text", ["", "1e5", ".5", "01", "1.", "NaN", "inf", "0.1.2", " 1"])
def test_decimal_strings_rejected(text: str) -> None:
    with pytest.raises(ValidationError):
        DEC.validate_python(text)


def test_decimal_rejects_float_values() -> None:
    with pytest.raises(ValidationError):
        DEC.validate_python(0.5)


@pytest.mark.parametrize(("text", "ok"), [("0", True), ("1", True), ("0.25", True), ("1.0", True),
                                          ("1.5", False), ("-0.1", False), ("2", False)])
def test_fraction_range(text: str, ok: bool) -> None:
    if ok:
        FRAC.validate_python(text)
    else:
        with pytest.raises(ValidationError):
            FRAC.validate_python(text)


@given(st.decimals(min_value=-10**9, max_value=10**9, places=6, allow_nan=False, allow_infinity=False))
def test_from_decimal_round_trips_through_the_pattern(value: Decimal) -> None:
    text = from_decimal(value)
    assert DEC.validate_python(text) == text
    assert to_decimal(text) == value.quantize(Decimal("0.000001"))


def test_duration_ms() -> None:
    assert duration_ms("1h30m") == 5_400_000
    assert duration_ms("2ms") == 2
    assert duration_ms("45s") == 45_000
    with pytest.raises(ValueError, match="not a duration"):
        duration_ms("1.5s")


def test_digest_helpers() -> None:
    hex_ = "ab" * 32
    assert digest_hex(sha256_digest(hex_)) == hex_
    with pytest.raises(ValueError, match="not a sha256"):
        digest_hex("md5:abc")


def test_threshold_passes() -> None:
    t = Threshold(min="0.9")
    assert t.passes(Decimal("0.95"))
    assert not t.passes(Decimal("0.85"))
    assert Threshold(max="0.05").passes(Decimal("0.05"))
    with pytest.raises(ValidationError):
        Threshold.model_validate({"min": 0.9})


URIS = ["s3://bucket/data/iris.csv", "s3://bucket/a/../b.csv", "s3://bucket/a/%2e%2e/b.csv", "s3://bucket/a/.%2E/b",
        "file:///var/lib/herder/store/..", "https://h/a%2f..%2fb.csv", "https://h/a%5C..%5Cb", "file:///a/..b/c",
        "file:///a/b../c", "https://h/a/...?x=1", "https://h/a/..?x=1", "s3://bucket/a/%2e/b", "s3://bucket/a.b/c..d"]


@pytest.mark.parametrize("uri", URIS)
def test_uri_type_refuses_what_the_storage_layer_refuses(uri: str) -> None:
    """The schema refuses every '..' the pods would refuse (herder.storage.uris), so such a spec never reaches one."""
    from herder.api.common import Uri
    from herder.storage.errors import UnsupportedURIError
    from herder.storage.uris import parse_uri

    try:
        parse_uri(uri)
        storage_ok = True
    except UnsupportedURIError:
        storage_ok = False
    try:
        TypeAdapter(Uri).validate_python(uri)
        api_ok = True
    except ValidationError:
        api_ok = False
    assert api_ok == storage_ok, (uri, api_ok, storage_ok)


CRONS = ["0 3 * * 0", "*/15 * * * *", "0 0,12 * * MON-FRI", "0 3 1 JAN *", "0 3 L * *", "0 3 * * 1#2", "@weekly",
         "59 23 31 12 7", "1-59/5 * * * *", "0 3 * * sun,sat"]


@pytest.mark.parametrize("expr", CRONS)
def test_cron_pattern_accepts_what_the_scheduler_runs(expr: str) -> None:
    import re

    from herder.api.common import CRON_PATTERN
    from herder.policy.schedule import parse_cron

    assert re.fullmatch(CRON_PATTERN, expr), expr
    parse_cron(expr)


def test_defaults_are_in_the_descriptions() -> None:
    """`kubectl explain` shows the default of a field next to its description."""
    from herder.api import KINDS
    from herder.crdgen.crd import spec_schema
    from herder.crdgen.schema import iter_nodes

    described = 0
    for info in KINDS.values():
        for path, node in iter_nodes(spec_schema(info)):
            if "default" in node:
                assert "Defaults to " in node["description"], path
                described += 1
    assert described > 20
    interval = spec_schema(KINDS["ModelDeployment"])["properties"]["analysis"]["properties"]["interval"]
    assert interval["description"].endswith("Defaults to 30s.")
