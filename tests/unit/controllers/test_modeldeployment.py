"""ModelDeploymentController end to end against the fake cluster (tests/unit/controllers/fake_cluster.py): the
branches the e2e rollout tests exercise on a real control plane -- first deploy, canary steps with analysis that
passes (promotion) or fails (abort), the retry request, a monitoring breach after promotion (rollback to the last
known-good version), the promote and rollback requests, and a missing Model or version (waiting) -- each as a
sequence of reconciles with the cluster settling and traffic flowing in between, on a clock the test moves."""

from __future__ import annotations

import copy
import time
from typing import Any, cast

import pytest

from herder.controllers import children
from herder.controllers.config import OperatorConfig
from herder.controllers.context import Clients, ObjKey, OperatorContext
from herder.controllers.metrics import OperatorMetrics
from herder.controllers.modeldeployment import ModelDeploymentController
from herder.controllers.scaffold import Outcome, reconcile_object
from tests.unit.controllers.fake_cluster import FakeCluster, FakeTime

NS = "ns"
KEY = ObjKey("ModelDeployment", NS, "iris")
DIGEST = "sha256:" + "ab" * 32
CLOCKED = ("herder.controllers.modeldeployment", "herder.monitoring.builtin", "herder.policy.timestamps")
"""Modules whose ``time`` the tests replace: the operator's clock is theirs."""
ERROR_RATE = {"name": "error-rate", "metric": "ErrorRate", "threshold": {"max": "0.05"}, "minSamples": 10,
              "failureLimit": 1}
CANARY = {"type": "Canary", "canary": {"steps": [{"weight": 50, "pause": "5s"}]}}


class World:
    """The operator's context over a fake cluster, with helpers to change the ModelDeployment like a user."""

    def __init__(self, cluster: FakeCluster, clock: FakeTime) -> None:
        self.cluster, self.clock = cluster, clock
        self.ctx = OperatorContext(config=OperatorConfig(), clients=cast(Clients, cluster.clients),
                                   metrics=OperatorMetrics())
        self.controller = ModelDeploymentController()

    def put(self, kind: str, body: dict[str, Any]) -> None:
        body["metadata"].setdefault("namespace", NS)
        self.ctx.store.put(ObjKey(kind, NS, body["metadata"]["name"]), body)

    def model(self, aliases: dict[str, int] | None = None) -> None:
        self.put("Model", {"metadata": {"name": "iris", "uid": "u-model"}, "spec": {"task": "Classification"},
                           "status": {"aliases": aliases} if aliases else {}})

    def version(self, v: int, *, rejected: bool = False, annotations: dict[str, str] | None = None) -> None:
        conds = [{"type": "Rejected", "status": "True", "reason": "GateFailed", "message": "accuracy too low"}] \
            if rejected else [{"type": "Ready", "status": "True", "reason": "Registered"}]
        self.put("ModelVersion", {
            "metadata": {"name": f"iris-v{v}", "annotations": annotations or {}},
            "spec": {"modelRef": {"name": "iris"}, "version": v,
                     "artifact": {"uri": f"file:///store/iris-v{v}.skops", "digest": DIGEST, "format": "skops"}},
            "status": {"conditions": conds}})

    def deploy(self, spec: dict[str, Any], annotations: dict[str, str] | None = None) -> None:
        """Apply the ModelDeployment (a new generation when the spec changed; status is the operator's)."""
        old = self.ctx.store.get(KEY)
        generation = 1 if old is None else old["metadata"]["generation"] + (old["spec"] != spec)
        meta = {"name": "iris", "namespace": NS, "uid": "u-iris", "generation": generation,
                "annotations": dict((old or {}).get("metadata", {}).get("annotations") or {}) | (annotations or {})}
        self.ctx.store.put(KEY, {"apiVersion": "herder.dev/v1alpha1", "kind": "ModelDeployment", "metadata": meta,
                                 "spec": copy.deepcopy(spec), "status": (old or {}).get("status") or {}})

    def annotate(self, **values: str) -> None:
        body = self.body()
        self.deploy(body["spec"], {f"herder.dev/{k}": v for k, v in values.items()})

    def reconcile(self) -> Outcome:
        out = reconcile_object(self.controller, self.body(), self.ctx)
        assert out is not None
        return out

    def settle(self, times: int = 1) -> Outcome:
        """The cluster rolls every Deployment out, then the operator reconciles (``times`` rounds)."""
        out = None
        for _ in range(times):
            self.cluster.settle()
            out = self.reconcile()
        assert out is not None
        return out

    def body(self) -> dict[str, Any]:
        body = self.ctx.store.get(KEY)
        assert body is not None
        return body

    @property
    def status(self) -> dict[str, Any]:
        return dict(self.body().get("status") or {})

    def cond(self, type_: str) -> tuple[str, str]:
        c = next(c for c in self.status.get("conditions") or [] if c["type"] == type_)
        return c["status"], c["reason"]

    def message(self, type_: str) -> str:
        return str(next(c for c in self.status["conditions"] if c["type"] == type_)["message"])

    def deployments(self) -> dict[str, str]:
        """Deployment name -> model version it serves."""
        return {name: d["spec"]["template"]["metadata"]["labels"]["herder.dev/model-version"]
                for (_, name), d in self.cluster.kinds["Deployment"].items.items()}

    def interval(self, version: int, seconds: float, requests: int = 20, errors: int = 0) -> Outcome:
        """``seconds`` pass with traffic on ``version``; then a reconcile."""
        self.cluster.serve(version, requests, errors)
        self.clock.advance(seconds)
        return self.reconcile()


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    cluster = FakeCluster(namespace=NS)
    clock = FakeTime(float(int(time.time())))
    for module in CLOCKED:
        monkeypatch.setattr(f"{module}.time", clock, raising=False)
    monkeypatch.setattr(children.k8s, "PolicyV1Api", lambda _api: cluster.policy)
    monkeypatch.setattr(children.k8s, "AutoscalingV2Api", lambda _api: cluster.autoscaling)
    monkeypatch.setattr("herder.monitoring.builtin.fetch", cluster.metrics)
    return World(cluster, clock)


def serving(world: World, version: int = 1, **spec: Any) -> None:
    """Version ``version`` deployed and rolled out as the stable version."""
    world.model()
    for v in range(1, version + 1):
        world.version(v)
    world.deploy({"model": {"name": "iris", "version": version}, **spec})
    world.reconcile()
    world.settle()
    assert world.status["stableVersion"] == version


# ------------------------------------------------------------------------------------------ first deploy
def test_first_deploy_rolls_the_stable_track_then_reports_serving(world: World) -> None:
    world.model()
    world.version(1)
    world.deploy({"model": {"name": "iris", "version": 1}, "replicas": 2})
    out = world.reconcile()
    assert world.deployments() == {"iris-stable": "1"}
    assert {name for (_, name) in world.cluster.kinds["Service"].items} == {"iris"}
    assert {name for (_, name) in world.cluster.kinds["PodDisruptionBudget"].items} == {"iris"}
    assert world.cond("Progressing") == ("True", "RollingOut")
    assert world.cond("Ready") == ("False", "Progressing")
    assert "stableVersion" not in world.status and out.requeue_after == 5.0
    assert "DeploymentCreated" in world.cluster.event_reasons()

    out = world.settle()
    st = world.status
    assert (st["stableVersion"], st["lastKnownGoodVersion"], st["resolvedVersion"]) == (1, 1, 1)
    assert st["stable"] == {"version": 1, "replicas": 2, "readyReplicas": 2}
    assert st["url"] == "http://iris.ns.svc.cluster.local/v2/models/iris"
    assert world.cond("Ready") == ("True", "Serving") and world.cond("Progressing") == ("False", "Stable")
    assert out.requeue_after is None
    assert "handledRequests" not in st and "abortedVersion" not in st

    # the next reconcile is a rollout's Stable phase (Degraded=False joins); from then on a quiet object writes
    # nothing
    world.reconcile()
    assert world.cond("Degraded") == ("False", "Healthy")
    writes = len(world.cluster.writes)
    world.reconcile()
    assert len(world.cluster.writes) == writes


def test_a_first_deploy_with_a_canary_strategy_is_healthy_and_through_the_alias(world: World) -> None:
    world.model(aliases={"production": 1})
    world.version(1)
    world.deploy({"model": {"name": "iris", "alias": "production"}, "strategy": CANARY})
    world.reconcile()
    world.settle()
    assert world.status["stableVersion"] == 1
    assert world.cond("Degraded") == ("False", "Healthy")


# ------------------------------------------------------------------------------------------ unreadable status
def damage(world: World, **fields: Any) -> None:
    """Replace status fields the way an older operator or a hand edit could have left them."""
    world.body()["status"].update(fields)


def test_an_unreadable_status_field_costs_that_field_not_the_reconcile(world: World) -> None:
    """Status is read into the typed model; a field that does not parse is treated as absent (here the operator
    learns the stable version again from the live Deployment), removed in the same write with a Warning Event
    naming it, and the object is quiet again afterwards."""
    serving(world)
    world.reconcile()
    damage(world, stableVersion="one", lastRollback={"from": 2, "reason": "AnalysisFailed"},
           analysisMetrics=[{"name": "e", "verdict": "Pass", "version": 1}, {"name": "l", "verdict": "Maybe"}])
    world.reconcile()
    st = world.status
    assert world.cond("Ready") == ("True", "Serving")  # no ReconcileError
    assert st["stableVersion"] == 1 and "lastRollback" not in st
    assert st["analysisMetrics"] == [{"name": "e", "verdict": "Pass", "version": 1}]
    event = next(e for e in world.cluster.events if e["reason"] == "StatusUnreadable")
    assert event["type"] == "Warning"
    assert "status.stableVersion" in event["message"] and "status.lastRollback.at" in event["message"]
    assert "status.analysisMetrics[1].verdict" in event["message"]
    world.reconcile()  # the Stable phase again (Degraded=False joins)
    writes = len(world.cluster.writes)
    world.reconcile()
    assert len(world.cluster.writes) == writes and world.cluster.event_reasons().count("StatusUnreadable") == 1


def test_unreadable_handled_requests_are_handled_again_once(world: World) -> None:
    """handledRequests that do not parse are forgotten as a whole: a request still on the object acts (or is
    ignored, with its Event) once more, and is recorded again."""
    serving(world)
    world.annotate(retry="x")
    world.reconcile()
    damage(world, handledRequests={"retry": ["x"]})
    world.reconcile()
    assert world.status["handledRequests"] == {"retry": "x"}
    assert world.cluster.event_reasons().count("RequestIgnored") == 2
    world.reconcile()
    assert world.cluster.event_reasons().count("RequestIgnored") == 2


# ------------------------------------------------------------------------------------------ waiting
def test_a_missing_model_is_a_missing_reference_retried_soon(world: World) -> None:
    world.deploy({"model": {"name": "iris", "version": 1}})
    out = world.reconcile()
    assert world.cond("ReferencesResolved") == ("False", "ModelNotFound")
    assert world.cond("Ready") == ("False", "ModelNotFound")
    assert out.requeue_after == world.ctx.config.missing_reference_retry_seconds
    assert ObjKey("Model", NS, "iris") in out.depends_on
    assert not world.cluster.kinds["Deployment"].items


def test_a_missing_or_rejected_version_waits_and_names_it(world: World) -> None:
    world.model()
    world.deploy({"model": {"name": "iris", "version": 3}})
    world.reconcile()
    assert world.cond("ReferencesResolved") == ("True", "Resolved")
    assert world.cond("Ready") == ("False", "VersionNotFound")
    assert "no version 3 (version 3)" in world.message("Ready")
    assert world.status["resolvedVersion"] == 3

    world.version(3, rejected=True)
    world.reconcile()
    assert world.cond("Ready") == ("False", "VersionRejected")
    assert "accuracy too low" in world.message("Ready")

    world.deploy({"model": {"name": "iris", "alias": "production"}})
    world.reconcile()
    assert world.cond("Ready") == ("False", "AliasNotSet")
    assert not world.cluster.kinds["Deployment"].items


def test_a_missing_version_keeps_the_stable_one_serving(world: World) -> None:
    serving(world)
    world.deploy({"model": {"name": "iris", "version": 7}})
    world.reconcile()
    assert world.cond("Progressing") == ("False", "VersionNotFound")
    assert "version 1 keeps serving" in world.message("Progressing")
    assert world.cond("Ready") == ("True", "Serving")
    assert world.deployments() == {"iris-stable": "1"}


def test_a_missing_artifact_store_claim_waits(world: World) -> None:
    world.cluster.claims.clear()
    world.model()
    world.version(1)
    world.deploy({"model": {"name": "iris", "version": 1}})
    out = world.reconcile()
    assert world.cond("Ready") == ("False", "StorageNotFound")
    assert out.requeue_after == world.ctx.config.missing_reference_retry_seconds


# ------------------------------------------------------------------------------------------ canary
def canary_spec(version: int) -> dict[str, Any]:
    return {"model": {"name": "iris", "version": version}, "replicas": 2, "strategy": CANARY,
            "analysis": {"interval": "3s", "metrics": [ERROR_RATE]}}


def start_canary(world: World) -> None:
    serving(world, **{k: v for k, v in canary_spec(1).items() if k != "model"})
    world.version(2)
    world.deploy(canary_spec(2))
    world.reconcile()
    st = world.status
    assert (st["canaryVersion"], st["canaryWeight"], st["currentStep"]) == (2, 50, 0)
    assert world.deployments() == {"iris-stable": "1", "iris-canary": "2"}
    assert world.cond("Progressing") == ("True", "CanaryRollout")
    assert world.cluster.event_reasons().count("RolloutStarted") == 1
    world.settle()  # the canary's pods are up; the first in-step reconcile takes the baseline scrape
    assert world.status["analysisMetrics"][0]["verdict"] == "Inconclusive"


def test_canary_steps_pass_analysis_and_promote(world: World) -> None:
    start_canary(world)
    world.interval(2, 3.0)  # a clean interval: analysis passes, the 5s pause still holds the step
    st = world.status
    assert st["analysisMetrics"][0]["verdict"] == "Pass" and st["currentStep"] == 0
    assert "waiting for the 5s pause" in world.message("Progressing")
    world.interval(2, 3.0)  # the pause is over and the latest analysis passed: promoting
    assert world.status["currentStep"] == 1
    assert world.deployments() == {"iris-stable": "2", "iris-canary": "2"}
    world.settle()
    st = world.status
    assert (st["stableVersion"], st["lastKnownGoodVersion"]) == (2, 2)
    assert "canaryVersion" not in st and "canary" not in st
    assert world.deployments() == {"iris-stable": "2"}
    assert world.cond("Progressing") == ("False", "Stable") and world.cond("Degraded") == ("False", "Healthy")
    assert "RolloutPromoted" in world.cluster.event_reasons()


def test_failed_analysis_aborts_and_a_retry_rolls_out_again(world: World) -> None:
    start_canary(world)
    world.interval(2, 3.0, requests=20, errors=20)
    st = world.status
    assert (st["stableVersion"], st["abortedVersion"]) == (1, 2)
    assert "canaryVersion" not in st
    assert world.cond("Degraded") == ("True", "AnalysisFailed")
    assert world.cond("Progressing") == ("False", "Aborted")
    rb = st["lastRollback"]
    assert (rb["from"], rb["to"], rb["reason"]) == (2, 1, "AnalysisFailed") and "error-rate=1" in rb["message"]
    assert st["abortedGeneration"] == world.body()["metadata"]["generation"]
    assert world.deployments() == {"iris-stable": "1"}
    assert world.cluster.event_reasons().count("RolloutAborted") == 1
    world.settle()  # it stays aborted while the spec is unchanged
    assert world.status["abortedVersion"] == 2 and world.deployments() == {"iris-stable": "1"}

    world.annotate(retry="2026-11-27T07:00:00Z")
    world.reconcile()
    st = world.status
    assert st["handledRequests"] == {"retry": "2026-11-27T07:00:00Z"}
    assert (st["canaryVersion"], st["currentStep"]) == (2, 0) and "abortedVersion" not in st
    assert "RetryRequested" in world.cluster.event_reasons()
    assert world.deployments() == {"iris-stable": "1", "iris-canary": "2"}
    world.reconcile()  # the same annotation value is not a new request
    assert world.cluster.event_reasons().count("RetryRequested") == 1


def test_a_retry_with_nothing_aborted_is_ignored_and_recorded(world: World) -> None:
    serving(world)
    world.annotate(retry="x")
    world.reconcile()
    assert world.status["handledRequests"] == {"retry": "x"}
    assert "RequestIgnored" in world.cluster.event_reasons()


def test_promote_skips_the_remaining_steps_and_rollback_aborts(world: World) -> None:
    start_canary(world)
    world.annotate(promote="2")
    world.reconcile()
    st = world.status
    assert st["currentStep"] == 1 and st["handledRequests"] == {"promote": "2"}
    assert world.deployments()["iris-stable"] == "2"

    world.annotate(rollback="now")
    world.reconcile()
    st = world.status
    assert (st["stableVersion"], st["abortedVersion"]) == (1, 2)
    assert st["lastRollback"]["reason"] == "ManualRollback"
    assert st["handledRequests"] == {"promote": "2", "rollback": "now"}
    assert world.deployments() == {"iris-stable": "1"}


def test_unmeasurable_analysis_holds_the_rollout(world: World) -> None:
    serving(world)
    world.version(2)
    prom = {"name": "p99", "provider": "Prometheus", "query": "vector(1)", "threshold": {"max": "1"}}
    world.deploy({"model": {"name": "iris", "version": 2}, "strategy": CANARY,
                  "analysis": {"interval": "3s", "metrics": [prom]}})
    world.reconcile()
    assert world.cond("Progressing") == ("False", "AnalysisNotPossible")
    assert "spec.analysis.metrics[0]" in world.message("Progressing")
    assert world.deployments() == {"iris-stable": "1"}


# ------------------------------------------------------------------------------------------ monitoring
MONITORING = {"interval": "3s", "onBreach": "Rollback", "metrics": [{**ERROR_RATE, "failureLimit": 1}]}


def test_a_monitoring_breach_after_promotion_rolls_back_to_the_last_known_good_version(world: World) -> None:
    serving(world, monitoring=MONITORING)
    assert world.status["lastKnownGoodVersion"] == 1
    world.version(2)
    world.deploy({"model": {"name": "iris", "version": 2}, "monitoring": MONITORING})
    world.reconcile()  # no strategy: in place
    assert world.status["canaryVersion"] == 2 and world.cond("Progressing") == ("True", "RollingOut")
    world.settle()
    st = world.status
    assert st["stableVersion"] == 2 and st["lastKnownGoodVersion"] == 1  # on probation
    world.interval(2, 3.0)  # the baseline scrape of the new stable version
    assert "monitoringMetrics" not in st or all(m["version"] != 2 for m in st["monitoringMetrics"])
    out = world.interval(2, 3.0, requests=20, errors=20)
    st = world.status
    assert (st["stableVersion"], st["abortedVersion"], st["lastKnownGoodVersion"]) == (1, 2, 1)
    rb = st["lastRollback"]
    assert (rb["from"], rb["to"], rb["reason"]) == (2, 1, "MonitoringBreach")
    assert world.cond("Degraded") == ("True", "MonitoringBreach")
    assert world.cond("Progressing") == ("False", "RolledBack")
    assert st["monitoringMetrics"][0]["verdict"] == "Fail"
    assert world.deployments() == {"iris-stable": "1"}
    assert out.requeue_after is not None
    assert world.body()["spec"]["model"] == {"name": "iris", "version": 2}  # the spec is the user's


def test_passing_monitoring_proves_the_new_version(world: World) -> None:
    serving(world, monitoring=MONITORING)
    world.version(2)
    world.deploy({"model": {"name": "iris", "version": 2}, "monitoring": MONITORING})
    world.reconcile()
    world.settle()
    world.interval(2, 3.0)
    world.interval(2, 3.0)
    st = world.status
    assert (st["lastKnownGoodVersion"], st["monitoringPassedIntervals"]) == (2, 1)
    assert "VersionProven" in world.cluster.event_reasons()


def test_manual_rollback_of_a_promoted_version(world: World) -> None:
    serving(world, monitoring=MONITORING)
    world.version(2)
    world.deploy({"model": {"name": "iris", "version": 2}, "monitoring": MONITORING})
    world.reconcile()
    world.settle()
    world.annotate(rollback="r1")
    world.reconcile()
    st = world.status
    assert (st["stableVersion"], st["abortedVersion"], st["lastKnownGoodVersion"]) == (1, 2, 1)
    assert st["lastRollback"]["reason"] == "ManualRollback"
    assert st["handledRequests"] == {"rollback": "r1"}
    assert world.cond("Progressing") == ("False", "RolledBack")


# ------------------------------------------------------------------------------------------ blue/green
def test_blue_green_previews_switches_and_promotes(world: World) -> None:
    bg = {"type": "BlueGreen", "blueGreen": {"autoPromote": True, "scaleDownDelay": "2s"}}
    serving(world, strategy=bg)
    world.version(2)
    world.deploy({"model": {"name": "iris", "version": 2}, "strategy": bg})
    world.reconcile()
    assert world.deployments() == {"iris-stable": "1", "iris-preview": "2"}
    assert world.cond("Progressing") == ("True", "BlueGreenRollout")
    world.settle()  # preview ready: traffic switches
    assert world.status["currentStep"] == 1
    assert world.cluster.kinds["Service"].items[(NS, "iris")]["spec"]["selector"]["herder.dev/track"] == "preview"
    world.clock.advance(2.0)
    world.reconcile()
    assert world.status["currentStep"] == 2
    world.settle()
    st = world.status
    assert st["stableVersion"] == 2 and "canaryVersion" not in st
    assert world.deployments() == {"iris-stable": "2"}


def test_an_unreadable_condition_is_left_to_the_scaffold(world: World) -> None:
    """A condition that does not parse is not read, but the conditions are the scaffold's to merge (it keeps the
    types this reconcile does not set, as they are): no repair, no Event, and a quiet object stays quiet."""
    serving(world)
    world.reconcile()
    odd = {"type": "Custom", "status": "Maybe", "reason": "Hand-Edited", "lastTransitionTime": "yesterday"}
    damage(world, conditions=sorted([*world.status["conditions"], odd], key=lambda c: str(c["type"])))
    writes = len(world.cluster.writes)
    world.reconcile()
    assert len(world.cluster.writes) == writes and "StatusUnreadable" not in world.cluster.event_reasons()
