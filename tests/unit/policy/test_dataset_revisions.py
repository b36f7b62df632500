"""A Dataset's revision bookkeeping: what a new validation adds, what it does not, what is never dropped."""

from __future__ import annotations

from herder.policy.dataset_revisions import KEEP, MAX_NAME, Validation, attempt_job_name, current, record

A, B, C = ("sha256:" + c * 64 for c in "abc")


def passed(job: str, digest: str, rows: int = 100) -> Validation:
    return Validation(job, "Passed", "2026-12-03T08:00:00Z", digest, rows, 4096)


def failed(job: str) -> Validation:
    return Validation(job, "Failed", "2026-12-03T08:00:00Z", reason="InvalidData", message="column 'x' is missing")


def test_attempt_names_are_stable_per_generation_and_refresh_request() -> None:
    assert attempt_job_name("iris", 1, None) == "iris-validate-1"
    refreshed = attempt_job_name("iris", 1, "2026-12-03T08:00:00Z")
    assert refreshed.startswith("iris-validate-1-") and len(refreshed) == len("iris-validate-1-") + 8
    assert attempt_job_name("iris", 1, "2026-12-03T08:00:00Z") == refreshed  # a restart finds the same Job
    assert attempt_job_name("iris", 1, "again") != refreshed
    long = attempt_job_name("d" * 60, 12, "x")
    assert len(long) <= MAX_NAME and long != attempt_job_name("d" * 60, 13, "x")


def test_new_content_is_a_new_revision_and_becomes_current() -> None:
    h = record([], passed("d-validate-1", A))
    assert [(r["number"], r["digest"], r["result"]) for r in h] == [(1, A, "Passed")]
    h = record(h, passed("d-validate-1-aaaa", B, rows=160))
    assert [(r["number"], r["digest"]) for r in h] == [(2, B), (1, A)]  # newest first
    assert current(h) == h[0] and h[0]["rows"] == 160 and h[0]["sizeBytes"] == 4096


def test_the_same_content_again_or_the_same_job_again_adds_nothing() -> None:
    h = record([], passed("d-validate-1", A))
    assert record(h, passed("d-validate-1-bbbb", A)) == h  # a quiet refresh
    assert record(h, passed("d-validate-1", B)) == h  # the same attempt seen again (a resync, a restart)


def test_a_failed_revision_is_recorded_but_never_current() -> None:
    h = record(record([], passed("d-validate-1", A)), failed("d-validate-2"))
    assert [(r["number"], r["result"]) for r in h] == [(2, "Failed"), (1, "Passed")]
    assert h[0]["reason"] == "InvalidData" and "digest" not in h[0]
    assert current(h)["number"] == 1  # type: ignore[index]
    assert current(record([], failed("d-validate-1"))) is None


def test_history_is_bounded_and_keeps_the_current_revision() -> None:
    h = record([], passed("d-validate-1", A))
    for i in range(2, 30):
        h = record(h, failed(f"d-validate-{i}"))
    assert len(h) == KEEP
    assert h[0]["number"] == 29 and h[-1]["number"] == 1 and current(h)["digest"] == A  # type: ignore[index]
    h = record(h, passed("d-validate-30", C))
    assert len(h) == KEEP and current(h)["number"] == 30  # type: ignore[index]
