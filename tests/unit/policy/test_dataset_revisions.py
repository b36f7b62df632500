"""A Dataset's revision bookkeeping: what a new validation adds, what it does not, what is never dropped."""

from __future__ import annotations

from herder.policy.dataset_revisions import (
    KEEP,
    KEEP_BASELINES,
    MAX_NAME,
    Validation,
    attempt_job_name,
    baselines_after,
    current,
    drift_summary,
    drift_text,
    profile_of,
    record,
    references,
)

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


PROFILE_1 = [{"name": "x", "bins": {"edges": ["1"], "counts": [5, 5]}}]
PROFILE_2 = [{"name": "x", "bins": {"edges": ["2"], "counts": [5, 5]}}]


def test_references_are_the_current_profile_and_the_kept_baselines() -> None:
    status = {"currentRevision": 3, "profile": PROFILE_2,
              "baselines": [{"revision": 1, "profile": PROFILE_1}, {"revision": 3, "profile": PROFILE_2}]}
    assert references(status) == [{"revision": 3, "profile": PROFILE_2}, {"revision": 1, "profile": PROFILE_1}]
    assert references({}) == [] and references({"currentRevision": 2}) == []  # nothing to compare with yet
    assert profile_of(status, 3) == PROFILE_2 and profile_of(status, None) == PROFILE_2
    assert profile_of(status, 1) == PROFILE_1 and profile_of(status, 2) is None


def test_baselines_keep_the_profiles_of_revisions_still_in_use() -> None:
    """When revision 2 becomes current, revision 1's profile is kept while production still measures against it;
    it goes once nothing refers to it; never more than KEEP_BASELINES."""
    was = {"currentRevision": 1, "profile": PROFILE_1}
    assert baselines_after(was, 2, {1}) == [{"revision": 1, "profile": PROFILE_1}]
    assert baselines_after(was, 2, set()) == []
    assert baselines_after(was, 1, {1}) == []  # the current one is status.profile itself
    many = {"currentRevision": 9, "profile": PROFILE_2,
            "baselines": [{"revision": n, "profile": PROFILE_1} for n in (8, 7, 6, 5)]}
    assert [b["revision"] for b in baselines_after(many, 10, {5, 6, 7, 8, 9})] == [9, 8, 7][:KEEP_BASELINES]


def test_drift_summary_keeps_what_is_well_formed_and_the_message_says_it() -> None:
    raw = [{"revision": 1, "value": 0.412345678, "column": "x", "columns": {"x": 0.412345678, "y": 0.0}},
           {"revision": 2, "value": None, "column": None, "columns": {}},
           {"revision": 0, "value": 1.0}, "junk", {"revision": 3, "value": float("nan")}]
    assert drift_summary(raw) == (
        {"againstRevision": 1, "value": "0.412346", "column": "x", "columns": {"x": "0.412346", "y": "0"}},
        {"againstRevision": 2}, {"againstRevision": 3})
    assert drift_summary(None) == ()
    assert drift_text(drift_summary(raw)) == "; drift against revision 1: PSI 0.412346 (x)"
    assert drift_text(()) == ""


def test_a_passed_revision_records_its_drift() -> None:
    drift = ({"againstRevision": 1, "value": "0.3", "column": "x"},)
    [entry, *_] = record([], Validation("d-validate-1", "Passed", "2026-12-03T10:00:00Z", "sha256:" + "a" * 64,
                                        drift=drift))
    assert entry["drift"] == [{"againstRevision": 1, "value": "0.3", "column": "x"}]
