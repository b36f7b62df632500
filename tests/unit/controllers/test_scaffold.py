"""The reconcile scaffold: an invalid spec becomes Ready=False/InvalidSpec with the field path and an Event, and
recomputing the same outcome writes nothing. The API client here is a recorder (the real API server's part is in
tests/integration/test_operator.py)."""

from __future__ import annotations

from typing import cast

from herder.controllers.config import OperatorConfig
from herder.controllers.context import Clients, OperatorContext
from herder.controllers.dataset import DatasetController
from herder.controllers.metrics import OperatorMetrics
from herder.controllers.scaffold import reconcile_object
from tests.unit.controllers.fake_cluster import FakeClients

BAD = {"apiVersion": "herder.dev/v1alpha1", "kind": "Dataset",
       "metadata": {"name": "d", "namespace": "ns", "uid": "u", "generation": 3},
       "spec": {"source": {"uri": "ftp://nope", "format": "csv"}, "schema": {"columns": [
           {"name": "x", "type": "float"}]}}}


def test_invalid_spec_is_a_condition_naming_the_field_and_an_event() -> None:
    fake = FakeClients()
    ctx = OperatorContext(config=OperatorConfig(), clients=cast(Clients, fake), metrics=OperatorMetrics())
    reconcile_object(DatasetController(), BAD, ctx)
    (name, args), = fake.custom.calls
    assert name == "patch_namespaced_custom_object_status"
    status = args[5]["status"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["observedGeneration"]) == ("False", "InvalidSpec", 3)
    assert ready["message"].startswith("spec.source.uri: ")
    assert "ftp://nope" in ready["message"]
    assert status["observedGeneration"] == 3
    (ev_name, ev_args), = fake.core.calls
    assert ev_name == "create_namespaced_event"
    assert (ev_args[1]["type"], ev_args[1]["reason"]) == ("Warning", "InvalidSpec")

    # the same object again, now carrying that status: nothing to write, no new Event
    again = {**BAD, "status": status}
    reconcile_object(DatasetController(), again, ctx)
    assert len(fake.custom.calls) == 1
    assert len(fake.core.calls) == 1
