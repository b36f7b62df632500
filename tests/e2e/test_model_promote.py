"""A Model with autoPromote false: a version that passes the gate becomes the candidate, Ready says there is no
production version yet, and herder.dev/promote makes the candidate production (once per value; with nothing to
promote the request is ignored and an Event says why)."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.e2e.helpers import IRIS, Workspace, cond, get, history, wait_cond
from tests.integration.k8s import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_promote_annotation_moves_production_to_the_candidate(workspace: Workspace) -> None:
    ws = workspace
    model = json.loads(json.dumps(IRIS[2]))
    model["spec"]["promotion"]["autoPromote"] = False
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*IRIS[:2], model, IRIS[3]]))
    wait_cond(ws, "trainingjob", "iris-v1", "Succeeded", timeout=300)
    m = wait_until(lambda: (b := get(ws, "model", "iris"))["status"].get("aliases", {}).get("candidate") == 1 and b,
                   60, what="version 1 as the candidate")
    assert "production" not in m["status"]["aliases"]
    ready = cond(m, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "NoProductionVersion")

    ws.kubectl("annotate", "model", "iris", "herder.dev/promote=go", "--overwrite")
    m = wait_until(lambda: (b := get(ws, "model", "iris"))["status"].get("aliases", {}).get("production") == 1 and b,
                   60, what="production -> v1 on herder.dev/promote")
    promoted = [h for h in history(ws, "iris") if h["action"] == "Promoted"]
    assert [(h["version"], h["reason"]) for h in promoted] == [(1, "ManualPromotion")]
    assert "candidate" not in m["status"]["aliases"] and m["status"]["promoteRequest"] == "go"
    assert cond(m, "Ready")["status"] == "True"

    ws.kubectl("annotate", "model", "iris", "herder.dev/promote=again", "--overwrite")  # nothing to promote
    selector = "involvedObject.kind=Model,reason=RequestIgnored"
    ignored = wait_until(lambda: json.loads(ws.kubectl("get", "events", "--field-selector", selector, "-o", "json"))[
        "items"], 60, what="the RequestIgnored Event")
    assert "herder.dev/promote='again' ignored: no candidate version awaits promotion" in ignored[0]["message"]
    assert [h["version"] for h in history(ws, "iris") if h["action"] == "Promoted"] == [1]
