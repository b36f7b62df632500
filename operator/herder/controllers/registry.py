"""Wire the kind controllers into kopf: one explicit registry (no import-time decorators, no global registry).

Level-based by construction: kopf's low-level ``on.event`` feeds every watch event (including the initial
listing, so a restarted operator sees everything) into the same reconcile, and a resync loop re-runs it for
every known object every ``resync_seconds`` and for objects that asked to be looked at again sooner. We do not
use kopf's create/update handlers (edge-triggered, and they write progress and diff-base annotations) nor its
timers (they add a finalizer to every object) — so a quiet object costs zero API writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import fnmatch
import logging
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from herder.controllers.context import ObjKey, OperatorContext
from herder.controllers.scaffold import KindController, key_of, reconcile_object

log = logging.getLogger("herder.operator")


class Requeue:
    """Thread-safe "look at this object again after N seconds" queue."""

    def __init__(self) -> None:
        self._due: dict[ObjKey, float] = {}
        self._lock = threading.Lock()

    def __call__(self, key: ObjKey, after: float) -> None:
        at = time.monotonic() + after
        with self._lock:
            self._due[key] = min(at, self._due.get(key, at))

    def pop_due(self) -> list[ObjKey]:
        now = time.monotonic()
        with self._lock:
            keys = [k for k, t in self._due.items() if t <= now]
            for k in keys:
                del self._due[k]
        return keys


def login_handler(ctx: OperatorContext) -> Callable[..., kopf.ConnectionInfo]:
    """kopf's login handler: kopf talks to the API server as exactly the identity our own client uses (one
    kubeconfig/SA)."""

    def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
        conf = ctx.clients.configuration
        header = conf.get_api_key_with_prefix("BearerToken") or conf.get_api_key_with_prefix("authorization")
        scheme, token = (header.split(" ", 1) if header and " " in header else (None, header or None))
        return kopf.ConnectionInfo(
            server=conf.host, ca_path=conf.ssl_ca_cert, insecure=not conf.verify_ssl, scheme=scheme, token=token,
            certificate_path=conf.cert_file, private_key_path=conf.key_file,
            trust_env=settings.networking.trust_env)

    return login


async def resync_loop(ctx: OperatorContext, requeue: Requeue, reconcile_key: Callable[[ObjKey], None],
                      stop: asyncio.Event) -> None:
    """Every object is reconciled once per resync interval, at its own offset within the interval (a full
    pass at once would queue hundreds of reconciles ahead of a user's fresh apply)."""
    loop = asyncio.get_running_loop()
    assert ctx.executor is not None
    due: dict[ObjKey, float] = {}
    in_flight: set[ObjKey] = set()

    def done(key: ObjKey) -> Callable[[asyncio.Future[None]], None]:
        return lambda _future: in_flight.discard(key)

    period = ctx.config.resync_seconds
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.5)
        now = time.monotonic()
        keys = set(requeue.pop_due())
        live = {k for k, _ in ctx.store.items()}
        for k in list(due):
            if k not in live:
                del due[k]
        for k in live:
            if k not in due:  # spread new objects over the interval, deterministically by name
                due[k] = now + (zlib.crc32(str(k).encode()) % 1000) / 1000 * period
            elif due[k] <= now:
                keys.add(k)
                due[k] = now + period
        # fire and forget, one in flight per object: a slow reconcile (a scrape timing out) must not hold up
        # the resync of everything else
        for k in sorted(keys - in_flight):
            in_flight.add(k)
            loop.run_in_executor(ctx.executor, reconcile_key, k).add_done_callback(done(k))


def prefill_store(ctx: OperatorContext, controllers: Sequence[KindController]) -> None:
    """The store filled with every object of every kind before the watches start."""
    custom = ctx.clients.custom
    patterns = ctx.config.namespaces
    exact = bool(patterns) and not any(set(p) & set("*?[!") for p in patterns)
    for c in controllers:
        if exact:
            items = [i for ns in patterns for i in custom.list_namespaced_custom_object(
                ctx.group, ctx.version, ns, c.plural)["items"]]
        else:  # cluster-wide, or kopf's glob patterns: list everything, keep what matches
            items = [i for i in custom.list_cluster_custom_object(ctx.group, ctx.version, c.plural)["items"]
                     if not patterns or any(fnmatch.fnmatchcase(i["metadata"]["namespace"], p)
                                            for p in patterns)]
        for body in items:
            ctx.store.put(key_of(c.kind, body), body)
        ctx.metrics.objects.labels(c.kind).set(ctx.store.count(c.kind))


def build_registry(ctx: OperatorContext, controllers: Sequence[KindController]) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    by_kind = {c.kind: c for c in controllers}
    requeue = Requeue()

    def reconcile_key(key: ObjKey) -> None:
        body = ctx.store.get(key)
        if body is None:
            return
        try:
            reconcile_object(by_kind[key.kind], body, ctx, requeue)
        except Exception:  # e.g. the object was deleted between read and write: the next event or resync decides
            log.warning("%s: reconcile failed; will retry", key, exc_info=True)
            requeue(key, ctx.config.missing_reference_retry_seconds)

    def trigger_dependents(key: ObjKey) -> None:
        for dep in ctx.store.dependents_of(key):
            reconcile_key(dep)

    kopf.on.login(registry=registry)(login_handler(ctx))

    def make_handler(controller: KindController) -> Callable[..., None]:
        def on_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
            key = key_of(controller.kind, dict(body))
            if event.get("type") == "DELETED":
                ctx.store.delete(key)
                ctx.metrics.objects.labels(controller.kind).set(ctx.store.count(controller.kind))
                trigger_dependents(key)
                return
            raw = ctx.store.put_latest(key, copy.deepcopy(dict(body)))
            ctx.metrics.objects.labels(controller.kind).set(ctx.store.count(controller.kind))
            reconcile_object(controller, raw, ctx, requeue)
            trigger_dependents(key)

        return on_event

    for controller in controllers:
        kopf.on.event(ctx.group, ctx.version, controller.plural, registry=registry,
                      id=f"reconcile-{controller.plural}")(make_handler(controller))

    def on_child_event(body: kopf.Body, **_: Any) -> None:
        """A Job or Deployment we own changed: re-reconcile its owner now instead of waiting for a resync."""
        ns = body.get("metadata", {}).get("namespace", "")
        for ref in body.get("metadata", {}).get("ownerReferences") or []:
            if str(ref.get("apiVersion", "")).startswith(f"{ctx.group}/") and ref.get("kind") in by_kind:
                reconcile_key(ObjKey(ref["kind"], ns, ref["name"]))

    managed = {"app.kubernetes.io/managed-by": "herder-operator"}
    kopf.on.event("batch", "v1", "jobs", labels=managed, registry=registry, id="owned-jobs")(on_child_event)
    kopf.on.event("apps", "v1", "deployments", labels=managed, registry=registry,
                  id="owned-deployments")(on_child_event)

    state: dict[str, Any] = {}

    @kopf.on.startup(registry=registry)
    async def start(settings: kopf.OperatorSettings, **_: Any) -> None:
        ctx.executor = ThreadPoolExecutor(max_workers=ctx.config.max_workers, thread_name_prefix="reconcile")
        # Fill the store before the watches start: a restarted operator must not see a TrainingJob before the
        # Model it points at and report a missing reference that is not missing (a flapping condition is a write).
        await asyncio.get_running_loop().run_in_executor(ctx.executor, prefill_store, ctx, controllers)
        ctx.metrics.serve(ctx.config.metrics_address, ctx.config.metrics_port)
        stop = asyncio.Event()
        state["stop"] = stop
        state["task"] = asyncio.create_task(resync_loop(ctx, requeue, reconcile_key, stop))
        log.info("herder operator started: kinds=%s resync=%ss workers=%s", sorted(by_kind),
                 ctx.config.resync_seconds, ctx.config.max_workers)

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        if "stop" in state:
            state["stop"].set()
            await state["task"]
        if ctx.executor is not None:
            ctx.executor.shutdown(wait=True, cancel_futures=True)

    return registry


def configure(settings: kopf.OperatorSettings, ctx: OperatorContext) -> kopf.OperatorSettings:
    """Deliberate kopf settings (each one a decision, not a default we happened to get)."""
    # Names are ours, so a second kopf operator in the cluster never touches our markers.
    settings.persistence.finalizer = "herder.dev/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="herder.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="herder.dev", key="last-handled-configuration")
    # Sync handlers run on this many threads (kopf's default is min(32, cores + 4)).
    settings.execution.max_workers = ctx.config.max_workers
    # We post our own Events on condition transitions; kopf would otherwise turn log lines into Events (writes).
    settings.posting.enabled = False
    # Watches: the server closes idle watches; kopf reconnects (and relists on 410 Gone).
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 60
    return settings
