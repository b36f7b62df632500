"""spec.refresh: an interval, or a cron schedule whose next occurrence sets when the source is asked again."""

from __future__ import annotations

import datetime as dt

import pytest

from herder.api.dataset import RefreshPolicy

NOW = dt.datetime(2026, 12, 3, 10, 7, 30, tzinfo=dt.UTC)


def test_an_interval_is_asked_every_interval() -> None:
    assert RefreshPolicy.model_validate({"interval": "5m"}).seconds_until_next(NOW) == 300


def test_a_schedule_is_asked_at_its_next_occurrence() -> None:
    hourly_at_15 = RefreshPolicy.model_validate({"schedule": "15 * * * *"})
    assert hourly_at_15.seconds_until_next(NOW) == 7 * 60 + 30
    assert RefreshPolicy.model_validate({"schedule": "@daily"}).seconds_until_next(NOW) == \
        (dt.datetime(2026, 12, 4, tzinfo=dt.UTC) - NOW).total_seconds()


@pytest.mark.parametrize(("spec", "said"), [
    ({"interval": "5m", "schedule": "0 * * * *"}, "exactly one of interval, schedule must be set (got interval, "
                                                  "schedule)"),
    ({}, "exactly one of interval, schedule must be set (got none)"),
    ({"schedule": "0 0 31 2 *"}, "invalid cron schedule '0 0 31 2 *'"),
])
def test_impossible_refresh_specs_are_refused_naming_what_was_set(spec: dict[str, str], said: str) -> None:
    with pytest.raises(ValueError, match=said.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        RefreshPolicy.model_validate(spec)
