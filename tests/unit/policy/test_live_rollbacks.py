"""The Model learns about live rollbacks: production goes back to what the deployment serves, recorded once, the
version kept and never promoted again automatically."""

from __future__ import annotations

from typing import Any

from herder.controllers.model import retired_versions
from herder.policy.live_rollbacks import Follower, follows_production, live_rollbacks, rolled_back

NOW = "2026-11-27T08:30:00Z"
RB_AT = "2026-11-27T08:29:50Z"


def md(name: str = "iris", aborted: int | None = 3, stable: int | None = 2, rb_from: int | None = 3,
       rb_to: int | None = 2, reason: str = "AnalysisFailed", at: str = RB_AT) -> Follower:
    rb = None if rb_from is None else {"from": rb_from, "to": rb_to, "reason": reason, "at": at,
                                       "message": "error-rate 1.0 > max 0.05 (12 samples)"}
    return Follower.from_body({"metadata": {"name": name}, "status": {
        "abortedVersion": aborted, "stableVersion": stable, "lastRollback": rb}})


def test_an_aborted_canary_moves_production_back_with_the_reason_and_numbers() -> None:
    out = live_rollbacks(3, [], [md()], NOW)
    assert out.production == 2
    [entry] = out.history
    assert entry["action"] == "RolledBack" and entry["reason"] == "AnalysisFailed"
    assert (entry["version"], entry["fromVersion"]) == (2, 3)
    assert entry["at"] == RB_AT  # the rollback's own time
    assert "ModelDeployment iris rolled back version 3 to version 2" in entry["message"]
    assert "error-rate 1.0 > max 0.05 (12 samples)" in entry["message"]
    assert "production back to version 2" in entry["message"]
    [(kind, reason, message)] = out.events
    assert (kind, reason) == ("Warning", "VersionRolledBack") and message == entry["message"]
    assert rolled_back(out.history) == {3}


def test_recorded_once_across_resyncs_and_restarts() -> None:
    first = live_rollbacks(3, [], [md()], NOW)
    # the next reconcile (or a restarted operator) reads the history it wrote; the deployment still says aborted
    again = live_rollbacks(first.production, first.history, [md()], "2026-11-27T08:31:00Z")
    assert again.history == [] and again.events == [] and again.production == 2
    # the deployment then serves 2 again and clears abortedVersion; lastRollback stays: still nothing new
    cleared = live_rollbacks(2, first.history, [md(aborted=None)], "2026-11-27T08:32:00Z")
    assert cleared.history == [] and cleared.production == 2


def test_a_later_second_rollback_of_the_same_version_is_recorded_again() -> None:
    first = live_rollbacks(3, [], [md()], NOW)
    later = live_rollbacks(3, first.history, [md(at="2026-11-27T09:10:00Z", reason="MonitoringBreach")],
                           "2026-11-27T09:10:05Z")
    [entry] = later.history
    assert entry["reason"] == "MonitoringBreach" and later.production == 2


def test_a_monitoring_rollback_after_promotion_is_recorded_too() -> None:
    out = live_rollbacks(3, [], [md(reason="MonitoringBreach")], NOW)
    assert out.production == 2 and out.history[0]["reason"] == "MonitoringBreach"


def test_production_already_moved_on_stays_where_it_is() -> None:
    out = live_rollbacks(4, [], [md()], NOW)
    assert out.production == 4
    assert "production already points at version 4" in out.history[0]["message"]
    assert rolled_back(out.history) == {3}


def test_no_rollback_target_keeps_production_and_says_so() -> None:
    out = live_rollbacks(3, [], [md(stable=3, rb_to=None)], NOW)
    assert out.production == 3
    [entry] = out.history
    assert "version" not in entry and entry["fromVersion"] == 3
    assert "serves no other version" in entry["message"]


def test_the_served_version_is_the_target_when_lastRollback_has_none() -> None:
    out = live_rollbacks(3, [], [md(stable=2, rb_to=None)], NOW)
    assert out.production == 2 and out.history[0]["version"] == 2


def test_stale_or_absent_rollbacks_are_ignored() -> None:
    assert live_rollbacks(3, [], [md(rb_from=None)], NOW).history == []
    assert live_rollbacks(3, [], [md(aborted=None)], NOW).history == []  # lastRollback of an older episode
    assert live_rollbacks(3, [], [md(aborted=4, rb_from=3)], NOW).history == []
    assert live_rollbacks(3, [], [Follower.from_body({"metadata": {"name": "fresh"}})], NOW).history == []


def test_two_deployments_rolling_back_the_same_version_make_one_entry() -> None:
    out = live_rollbacks(3, [], [md("b"), md("a")], NOW)
    [entry] = out.history
    assert "ModelDeployment a" in entry["message"] and out.production == 2


def test_only_production_followers_of_this_model_count() -> None:
    def body(**model: Any) -> dict[str, Any]:
        return {"metadata": {"namespace": "ns", "name": "d"}, "spec": {"model": model}}

    assert follows_production(body(name="iris", alias="production"), "ns", "iris")
    assert not follows_production(body(name="iris", alias="candidate"), "ns", "iris")
    assert not follows_production(body(name="iris", version=3), "ns", "iris")
    assert not follows_production(body(name="other", alias="production"), "ns", "iris")
    assert not follows_production(body(name="iris", alias="production"), "elsewhere", "iris")


def test_retention_keeps_a_rolled_back_version() -> None:
    history = live_rollbacks(3, [], [md()], NOW).history
    assert retired_versions([1, 2, 3, 4, 5, 6], 2, {"production": 2}, rolled_back(history)) == [1, 4]
