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
