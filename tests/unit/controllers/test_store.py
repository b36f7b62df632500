"""The operator's object store keeps the latest version of each object: a watch event that arrives late, for a
version older than the one the operator itself just wrote, must not bring the old status back (that made two
reconciles of one object write alternately, an endless stream of writes with a thousand objects)."""

from __future__ import annotations

from typing import Any

from herder.controllers.context import ObjectStore, ObjKey

KEY = ObjKey("ModelDeployment", "ns", "iris")


def body(rv: str | None, uid: str = "u1", ready: str = "True") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "iris", "namespace": "ns", "uid": uid}
    if rv is not None:
        meta["resourceVersion"] = rv
    return {"metadata": meta, "status": {"ready": ready}}


def test_a_late_event_for_an_older_version_does_not_replace_the_newer_one() -> None:
    store = ObjectStore()
    store.put(KEY, body("120", ready="True"))
    kept = store.put_latest(KEY, body("100", ready="False"))
    assert kept["status"]["ready"] == "True" and store.get(KEY) is kept


def test_newer_versions_replace_and_a_recreated_object_always_does() -> None:
    store = ObjectStore()
    store.put(KEY, body("120"))
    newer = body("130", ready="False")
    assert store.put_latest(KEY, newer) is newer
    recreated = body("5", uid="u2")
    assert store.put_latest(KEY, recreated) is recreated  # another uid: a new object, whatever its revision


def test_unknown_or_non_numeric_versions_count_as_newer() -> None:
    store = ObjectStore()
    store.put(KEY, body("120"))
    for rv in (None, "opaque-token"):
        incoming = body(rv, ready="False")
        assert store.put_latest(KEY, incoming) is incoming
    assert store.put_latest(ObjKey("Model", "ns", "new"), body("1"))["metadata"]["resourceVersion"] == "1"
