"""TrainingJob: a batch/v1 Job running ``herder train``; on success, exactly one immutable ModelVersion.

Restart safety: the Job name is derived from the TrainingJob (one Job per TrainingJob, ever), the version number
is reserved on the Job as an annotation when it is created, and the ModelVersion carries the TrainingJob's uid —
so a restarted operator finds the same Job and never creates a second Job or a second version.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from kubernetes.client.rest import ApiException

from herder.api.common import from_decimal
from herder.api.dataset import DatasetSpec
from herder.api.featureset import FeatureSetSpec
from herder.api.model import ModelSpec
from herder.api.parsing import InvalidSpecError, parse_spec
from herder.api.training import TrainingJobSpec
from herder.controllers import children, lookups
from herder.controllers.context import ObjKey, OperatorContext
from herder.controllers.scaffold import Outcome, missing_reference, parse_spec_as, waiting
from herder.policy.conditions import Cond
from herder.policy.timestamps import rfc3339
from herder.resources.common import Owner
from herder.resources.jobs import PERMANENT_EXIT_CODE, JobParams, build_job
from herder.resources.trainer_requests import RequestError, train_request

VERSION_ANNOTATION = "herder.dev/version"
TRAINING_UID_LABEL = "herder.dev/trainingjob-uid"
STORAGE_SEEN_SECONDS = 30.0
"""How long a seen artifact-store claim counts as present in its namespace before it is read again."""


def job_name(name: str) -> str:
    return f"{name}-train"


def output_dir(ctx: OperatorContext, uid: str) -> str:
    """Where a run's artifact and metadata go, as a URI every pod resolves the same way (one dir per run)."""
    return lookups.storage(ctx).uri("artifacts", uid)


def search_trials(spec: TrainingJobSpec) -> int:
    """Trials the trainer enumerates for this search (grid and random alike: at most the grid's size)."""
    assert spec.search is not None
    size = 1
    for d in spec.search.space:
        size *= len(d.values or [])
    return max(1, min(spec.search.trials, size))


def last_log_line(ctx: OperatorContext, job: str, ns: str) -> str | None:
    """The trainer's latest progress line ("[train] cv 3/5 ..."), shown on status while it runs."""
    pods = [p for p in children.pods_of_job(ctx, job, ns) if p["status"].get("phase") == "Running"]
    if not pods:
        return None
    try:
        text = ctx.clients.core.read_namespaced_pod_log(pods[-1]["metadata"]["name"], ns, tail_lines=1)
    except ApiException:
        return None
    lines = [ln for ln in str(text).splitlines() if ln.strip()]
    return lines[-1][:500] if lines else None


def _seconds(duration: str | None) -> int | None:
    from herder.api.common import duration_seconds

    return None if duration is None else max(1, math.ceil(duration_seconds(duration)))


def _decimals(values: dict[str, Any]) -> dict[str, str]:
    out = {}
    for k, v in values.items():
        if isinstance(v, int | float) and math.isfinite(v):
            out[k] = from_decimal(v)
    return out


def onnx_fields(summary: dict[str, Any], out_dir: str) -> dict[str, Any]:
    """The ModelVersion's ``artifact.onnx`` (URI as pods see it, digest, check) or ``onnxFailure`` from the
    trainer's summary; nothing for a trainer that predates compilation."""
    onnx = summary.get("onnx")
    if isinstance(onnx, dict) and onnx.get("sha256") and onnx.get("artifact"):
        check = onnx.get("check") if isinstance(onnx.get("check"), dict) else None
        wire_check = None
        if check is not None:
            wire_check = {"rows": int(check["rows"]), "labelMismatches": int(check["labelMismatches"]),
                          **_decimals({k: check[k] for k in ("maxAbsDiff", "maxRelDiff", "tolerance") if k in check}),
                          "estimatorPrecision": str(check["estimatorPrecision"])}
        return {"onnx": {"uri": f"{out_dir}/{str(onnx['artifact']).rsplit('/', 1)[-1]}",
                         "digest": f"sha256:{onnx['sha256']}", **({"check": wire_check} if wire_check else {})}}
    if summary.get("onnxFailure"):
        return {"onnxFailure": str(summary["onnxFailure"])}
    return {}


def failed(reason: str, message: str, **fields: Any) -> Outcome:
    return Outcome([Cond("Failed", "True", reason, message), Cond("Succeeded", "False", reason, message),
                    Cond("Running", "False", reason, ""), Cond("Ready", "False", reason, message)],
                   fields={"completedAt": rfc3339(), "failure": {"reason": reason, "message": message[:4000],
                                                                      **fields}})


@dataclass(frozen=True)
class PinnedData:
    """The Dataset revision a run trains on: taken from the Dataset when the run's first Job is made, then kept on
    the TrainingJob's status, so a new revision during training changes neither the bytes nor the lineage."""

    digest: str
    revision: int | None
    snapshot: str | None
    """The revision's content-addressed copy in the store (what the trainer reads), when the Dataset has one."""
    pinned: bool
    """Whether it comes from this run's own status (a Job exists) rather than the Dataset's current revision."""


def pinned_data(body: dict[str, Any], dataset: dict[str, Any] | None) -> PinnedData:
    status = body.get("status") or {}
    if status.get("jobName") and status.get("datasetDigest"):
        return PinnedData(str(status["datasetDigest"]), status.get("datasetRevision"), status.get("datasetSnapshot"),
                          pinned=True)
    current = (dataset or {}).get("status") or {}
    return PinnedData(str(current.get("digest")), current.get("currentRevision"), current.get("snapshot"),
                      pinned=False)


@dataclass(frozen=True)
class Inputs:
    """What a run trains from (TrainingJobController._inputs)."""

    deps: set[ObjKey]
    ok: Cond
    """ReferencesResolved."""
    data: PinnedData
    """The Dataset revision this run trains on (pinned once its first Job exists)."""
    fs_body: dict[str, Any] | None
    model: ModelSpec
    dataset: DatasetSpec
    features: FeatureSetSpec | None


def best_params(summary: dict[str, Any]) -> dict[str, Any] | None:
    """The search's winner as the status schema holds it (ints stay ints, everything else as text), from the
    final fit's summary (its ``params`` are the effective parameters: after a search, the winner's)."""
    params = summary.get("params")
    if not isinstance(params, dict) or not params:
        return None
    return {str(k): v if isinstance(v, int) and not isinstance(v, bool) else str(v) for k, v in params.items()}


def _job_failed_condition(job: dict[str, Any]) -> bool:
    return any(c.get("type") == "Failed" and c.get("status") == "True"
               for c in (job.get("status") or {}).get("conditions") or [])


class TrainingJobController:
    kind = "TrainingJob"
    plural = "trainingjobs"

    def __init__(self) -> None:
        # Version numbers held by runs, per (namespace, model): run (TrainingJob uid, or a Job name found after a
        # start) -> number. The API is listed once per model after a start (Jobs of a previous operator that have
        # not failed), then numbers come from memory -- one API read less on a new run's hot path. A run that
        # fails gives its number back: numbers belong to versions that exist (or may still), so a typo burns none.
        self._held: dict[tuple[str, str], dict[str, int]] = {}
        self._lock = threading.Lock()
        # Namespaces whose artifact-store claim was found, and when (monotonic): a burst of new TrainingJobs in
        # one namespace reads the claim once instead of once per run, one API read less before each Job.
        self._storage_seen: dict[str, float] = {}

    def parse(self, body: dict[str, Any]) -> TrainingJobSpec:
        return parse_spec_as(self.kind, body, TrainingJobSpec)

    def reconcile(self, spec: TrainingJobSpec, body: dict[str, Any], ctx: OperatorContext) -> Outcome:
        meta = body["metadata"]
        ns, name = meta["namespace"], meta["name"]
        if lookups.is_true(body, "Failed"):
            return Outcome([])  # terminal: a new TrainingJob (or a new name) runs again
        if lookups.is_true(body, "Succeeded"):
            return Outcome([])  # the ModelVersion was created before Succeeded was written
        inputs = self._inputs(spec, body, ctx, ns)
        if isinstance(inputs, Outcome):
            return inputs
        deps, ok, data, fs_body = inputs.deps, inputs.ok, inputs.data, inputs.fs_body
        digest = data.digest
        model, dataset, features = inputs.model, inputs.dataset, inputs.features
        # checked before the first Job only: afterwards the Job exists and says what it needs
        fresh = not (body.get("status") or {}).get("jobName")
        if fresh and (problem := self._storage_missing(ctx, ns)) is not None:
            return waiting(ctx, [ok, problem], deps)
        store = lookups.storage(ctx)
        owner = Owner.from_body(self.kind, body)
        jname = job_name(name)
        events: list[tuple[str, str, str]] = []
        created: list[str] = []

        def make_job(job_name_: str, args: list[str], version: int, trials: int | None = None) -> dict[str, Any]:
            request = train_request(
                model_name=spec.model_ref.name, version=version, task=model.task, dataset=dataset,
                digest=digest, snapshot=data.snapshot, features=features, template=spec,
                output_dir=output_dir(ctx, meta["uid"]))
            desired = build_job(owner, JobParams(
                name=job_name_, component="training", image=ctx.config.herder_image, args=args, request=request,
                storage=store,
                requests={k: str(v) for k, v in ((spec.resources.requests if spec.resources else None) or {}).items()},
                limits={k: str(v) for k, v in ((spec.resources.limits if spec.resources else None) or {}).items()},
                deadline_seconds=_seconds(spec.deadline), backoff_limit=spec.backoff_limit if spec.backoff_limit
                is not None else 2, extra_labels={"herder.dev/model": spec.model_ref.name},
                completions=trials, parallelism=(spec.search.parallelism or 1) if spec.search and trials else None,
                s3_secret=ctx.config.storage_secret))
            desired["metadata"]["annotations"] = {VERSION_ANNOTATION: str(version)}
            job, action = children.create_if_absent(ctx, self.kind, desired)
            if action == "created":
                created.append(job_name_)
                what = f"{trials} search trials" if trials else f"version {version}"
                events.append(("Normal", "JobCreated", f"created Job {job_name_} for {what}"))
            elif (job["metadata"].get("annotations") or {}).get(VERSION_ANNOTATION) != str(version):
                # adopted a Job created before (e.g. by an operator that restarted before writing status): it
                # carries its own number, which this run holds instead of the one just reserved
                adopted = int((job["metadata"].get("annotations") or {}).get(VERSION_ANNOTATION) or 0)
                self._hold(ns, spec.model_ref.name, meta["uid"], adopted)
            return job

        base_fields: dict[str, Any] = {"datasetDigest": digest if digest.startswith("sha256:") else None,
                                       "datasetRevision": data.revision, "datasetSnapshot": data.snapshot}
        final_args = ["train"]
        reserved: int | None = None
        if spec.search is not None:
            # Phase 1: every trial is one index of an Indexed Job (parallelism from the spec); phase 2 trains
            # the best candidate. The version number is reserved on the first Job and carried to the second.
            trials = search_trials(spec)
            sname = f"{name}-search"
            sjob = children.read(ctx, "Job", sname, ns)
            try:
                if sjob is None:
                    sjob = make_job(sname, ["train", "--trial-index=$(JOB_COMPLETION_INDEX)"],
                                    self._next_version(ctx, ns, spec.model_ref.name, meta["uid"]), trials)
            except RequestError as e:
                self._release(ns, spec.model_ref.name, meta["uid"])
                return failed("UnsupportedSpec", str(e))
            reserved = int(sjob["metadata"].get("annotations", {}).get(VERSION_ANNOTATION, "0"))
            sst = sjob.get("status") or {}
            sdone = {c["type"]: c for c in sst.get("conditions") or [] if c.get("status") == "True"}
            progress = {"completedTrials": int(sst.get("succeeded") or 0), "totalTrials": trials}
            base_fields.update(startedAt=sst.get("startTime"), progress=progress)
            if "Failed" in sdone:
                pods = children.pods_of_job(ctx, sname, ns)
                code, message = children.termination_message(pods[-1]) if pods else (None, "")
                reason = "InvalidTrainingInput" if code == PERMANENT_EXIT_CODE else "SearchFailed"
                out = failed(reason, message or str(sdone["Failed"].get("message") or "a search trial failed"),
                             **({"exitCode": code} if code is not None else {}))
                out.fields.update(base_fields, jobName=sname)
                out.depends_on = deps
                self._release(ns, spec.model_ref.name, meta["uid"])
                return out
            if "Complete" not in sdone and "SuccessCriteriaMet" not in sdone:
                running = Cond("Running", "True", "Searching",
                               f"Job {sname}: {progress['completedTrials']}/{trials} trials done")
                return Outcome([ok, running, Cond("Ready", "False", "Training", running.message)],
                               fields={**base_fields, "jobName": sname}, depends_on=deps, events=events,
                               requeue_after=10.0)
            final_args = ["train", "--select-best"]
        # A fresh run without a search has no Job yet (almost always): create it straight away, adopting one
        # left by a restarted operator on AlreadyExists, instead of reading first.
        job = None if fresh and spec.search is None else children.read(ctx, "Job", jname, ns)
        if job is None:
            try:
                job = make_job(jname, final_args,
                               reserved or self._next_version(ctx, ns, spec.model_ref.name, meta["uid"]))
            except RequestError as e:
                self._release(ns, spec.model_ref.name, meta["uid"])
                return failed("UnsupportedSpec", str(e))
        version = int(job["metadata"].get("annotations", {}).get(VERSION_ANNOTATION, "0"))
        js = job.get("status") or {}
        done = {c["type"]: c for c in js.get("conditions") or [] if c.get("status") == "True"}
        base: dict[str, Any] = {"startedAt": js.get("startTime"), **base_fields, "jobName": jname}
        if "Complete" in done or "SuccessCriteriaMet" in done:
            pods = [p for p in children.pods_of_job(ctx, jname, ns) if p["status"].get("phase") == "Succeeded"]
            _, message = children.termination_message(pods[-1]) if pods else (None, "")
            summary = lookups.parse_summary(message)
            if summary is None or "sha256" not in summary:
                return Outcome([ok, Cond("Ready", "False", "ResultMissing",
                                         f"Job {jname} succeeded but its result could not be read; retrying")],
                               fields=base, requeue_after=ctx.config.missing_reference_retry_seconds)
            mv_name = self._ensure_version(spec, body, ctx, summary, version=version, features=fs_body, data=data)
            metrics = _decimals(summary.get("metrics") or {})
            return Outcome(
                [ok, Cond("Succeeded", "True", "Trained", f"produced ModelVersion {mv_name}"),
                 Cond("Failed", "False", "Trained", ""), Cond("Running", "False", "Completed", ""),
                 Cond("Ready", "True", "Trained", f"version {version} of Model {spec.model_ref.name!r}")],
                fields={**base, "completedAt": js.get("completionTime") or rfc3339(),
                        "metrics": {k: v for k, v in metrics.items() if not k.startswith("cv_")} or None,
                        "cvMetrics": {k.removeprefix("cv_"): v for k, v in metrics.items() if k.startswith("cv_")}
                        or None,
                        "producedVersion": version, "modelVersionName": mv_name,
                        "bestParams": best_params(summary) if spec.search is not None else None},
                depends_on=deps, events=[*events, ("Normal", "VersionCreated", f"ModelVersion {mv_name} created")])
        if "Failed" in done:
            out = self._job_failed(spec, ctx, jname, ns, done["Failed"])
            out.fields.update(base)
            out.depends_on = deps
            self._release(ns, spec.model_ref.name, meta["uid"])
            return out
        running = Cond("Running", "True", "Training", f"Job {jname} is training version {version}")
        line = None if jname in created else last_log_line(ctx, jname, ns)  # a Job created just now has no pod
        if line:
            base["progress"] = {**(base.get("progress") or {}), "message": line}
        return Outcome([ok, running, Cond("Ready", "False", "Training", running.message)], fields=base,
                       depends_on=deps, events=events, requeue_after=10.0)

    def _inputs(self, spec: TrainingJobSpec, body: dict[str, Any], ctx: OperatorContext, ns: str) -> Inputs | Outcome:
        """The Model, Dataset and FeatureSet the run trains from, each existing, ready and parsed; an Outcome that
        waits or fails otherwise."""
        refs = {"Model": (spec.model_ref.name, "spec.modelRef"), "Dataset": (spec.dataset_ref.name, "spec.datasetRef")}
        if spec.feature_set_ref is not None:
            refs["FeatureSet"] = (spec.feature_set_ref.name, "spec.featureSetRef")
        deps = {ObjKey(kind, ns, n) for kind, (n, _) in refs.items()}
        for kind, (ref_name, field) in refs.items():
            if lookups.get(ctx, kind, ns, ref_name) is None:
                return missing_reference(ctx, kind, ref_name, namespace=ns, field_path=field, depends_on=deps)
        model_body = lookups.get(ctx, "Model", ns, spec.model_ref.name)
        ds_body = lookups.get(ctx, "Dataset", ns, spec.dataset_ref.name)
        fs_body = lookups.get(ctx, "FeatureSet", ns, spec.feature_set_ref.name) if spec.feature_set_ref else None
        ok = lookups.resolved()
        data = pinned_data(body, ds_body)
        if not data.pinned and not lookups.is_true(ds_body, "Ready"):  # a pinned run needs only its snapshot
            why = (lookups.condition(ds_body, "Ready") or {}).get("message") or "not validated yet"
            return Outcome([ok, Cond("Ready", "False", "DatasetNotReady", f"Dataset {spec.dataset_ref.name!r}: {why}")],
                           depends_on=deps)
        if fs_body is not None and not lookups.is_true(fs_body, "Ready"):
            why = (lookups.condition(fs_body, "Ready") or {}).get("message") or "not ready"
            return Outcome([ok, Cond("Ready", "False", "FeatureSetNotReady",
                                     f"FeatureSet {spec.feature_set_ref.name!r}: {why}")],  # type: ignore[union-attr]
                           depends_on=deps)
        digest = data.digest
        if spec.dataset_ref.digest and spec.dataset_ref.digest != digest:
            out = failed("DigestMismatch", f"spec.datasetRef.digest pins {spec.dataset_ref.digest} but Dataset "
                         f"{spec.dataset_ref.name!r} now has {digest}; not training on different data")
            out.depends_on = deps
            return out
        try:
            model = parse_spec("Model", model_body or {})
            dataset = parse_spec("Dataset", ds_body or {})
            features = parse_spec("FeatureSet", fs_body) if fs_body is not None else None
        except InvalidSpecError as e:
            return Outcome([ok, Cond("Ready", "False", "ReferenceInvalid", str(e))], depends_on=deps)
        assert isinstance(model, ModelSpec)
        assert isinstance(dataset, DatasetSpec)
        assert features is None or isinstance(features, FeatureSetSpec)
        return Inputs(deps, ok, data, fs_body, model, dataset, features)

    @staticmethod
    def _job_failed(spec: TrainingJobSpec, ctx: OperatorContext, jname: str, ns: str, cond: dict[str, Any]
                    ) -> Outcome:
        """Failed, with the trainer's own reason: its exit code and last words, or the Job's deadline."""
        pods = children.pods_of_job(ctx, jname, ns)
        code, message = children.termination_message(pods[-1]) if pods else (None, "")
        if cond.get("reason") == "DeadlineExceeded":
            reason = "DeadlineExceeded"
            message = f"the run exceeded its deadline ({spec.deadline}); " + (message or cond.get("message", ""))
        elif code == PERMANENT_EXIT_CODE:
            reason = "InvalidTrainingInput"
        else:
            reason = "TrainerCrashed" if code is not None else str(cond.get("reason") or "JobFailed")
        return failed(reason, message or str(cond.get("message") or "the training Job failed"),
                      **({"exitCode": code} if code is not None else {}))

    def _storage_missing(self, ctx: OperatorContext, ns: str) -> Cond | None:
        """lookups.storage_missing, reading the claim at most once per STORAGE_SEEN_SECONDS per namespace once
        it was found (a missing claim is read again every time: creating it must be noticed at once)."""
        seen = self._storage_seen.get(ns)
        if seen is not None and time.monotonic() - seen < STORAGE_SEEN_SECONDS:
            return None
        problem = lookups.storage_missing(ctx, ns)
        if problem is None:
            self._storage_seen[ns] = time.monotonic()
        else:
            self._storage_seen.pop(ns, None)
        return problem

    def _hold(self, ns: str, model: str, run: str, version: int) -> None:
        with self._lock:
            self._held.setdefault((ns, model), {})[run] = version

    def _release(self, ns: str, model: str, run: str) -> None:
        """A failed run produces no version: its number is free again (the next run may take it, if no higher
        number is held or used by then)."""
        with self._lock:
            self._held.get((ns, model), {}).pop(run, None)

    def _next_version(self, ctx: OperatorContext, ns: str, model: str, run: str) -> int:
        """One more than the highest number a ModelVersion has or a run (not failed) holds."""
        with self._lock:
            used = [int(b.get("spec", {}).get("version", 0)) for k, b in ctx.store.items("ModelVersion")
                    if k.namespace == ns and b.get("spec", {}).get("modelRef", {}).get("name") == model]
            if (ns, model) not in self._held:
                jobs = json.loads(ctx.clients.batch.list_namespaced_job(
                    ns, label_selector=f"herder.dev/model={model}", _preload_content=False).data)["items"]
                self._held[(ns, model)] = {
                    f"job/{j['metadata']['name']}": int((j["metadata"].get("annotations") or {}).get(
                        VERSION_ANNOTATION, 0)) for j in jobs if not _job_failed_condition(j)}
            held = self._held[(ns, model)]
            held.pop(run, None)  # a run asking again (its Job was not made) does not hold two numbers
            version = max([*used, *held.values()], default=0) + 1
            held[run] = version
            return version

    def _ensure_version(self, spec: TrainingJobSpec, body: dict[str, Any], ctx: OperatorContext,
                        summary: dict[str, Any] | None, *, version: int | None = None,
                        features: dict[str, Any] | None = None, data: PinnedData | None = None) -> str:
        """Create the ModelVersion for this run (once: it is found again by name and the run's uid)."""
        meta = body["metadata"]
        ns = meta["namespace"]
        status = body.get("status") or {}
        version = version or status.get("producedVersion")
        name = f"{spec.model_ref.name}-v{version}"
        if summary is None or version is None:
            return str(status.get("modelVersionName") or name)
        if ctx.store.get(ObjKey("ModelVersion", ns, name)) is not None:
            return name
        model_body = lookups.get(ctx, "Model", ns, spec.model_ref.name) or {}
        sha = str(summary["sha256"])
        # URIs as every pod sees them (the store's mount path), built from the output dir we chose: the trainer
        # reports paths as *it* saw them, which may be a node-local translation.
        out_dir = output_dir(ctx, meta["uid"])
        uri = f"{out_dir}/{str(summary['artifact']).rsplit('/', 1)[-1]}"
        metadata_uri = f"{out_dir}/{str(summary['metadata']).rsplit('/', 1)[-1]}" if summary.get("metadata") else ""
        lineage: dict[str, Any] = {
            "trainingJob": meta["name"], "trainingJobUid": meta["uid"],
            "dataset": {"name": spec.dataset_ref.name,
                        "digest": (data.digest if data else None) or summary.get("datasetDigest"),
                        **({"revision": data.revision} if data and data.revision else {}),
                        **({"snapshot": data.snapshot} if data and data.snapshot else {})},
            "estimator": spec.estimator.wire(), "image": ctx.config.herder_image,
        }
        if isinstance(summary.get("libraries"), dict):
            lineage["libraries"] = {str(k): str(v)[:64] for k, v in summary["libraries"].items()}
        if (params := best_params(summary)) is not None:  # the effective parameters (after a search: the winner's)
            lineage["estimator"] = {**lineage["estimator"], "params": params}
        if features is not None and spec.feature_set_ref is not None:
            lineage["featureSet"] = {"name": spec.feature_set_ref.name,
                                     "generation": features["metadata"].get("generation", 1)}
        if not str(lineage["dataset"]["digest"]).startswith("sha256:"):
            lineage["dataset"]["digest"] = f"sha256:{lineage['dataset']['digest']}"
        mv: dict[str, Any] = {
            "apiVersion": f"{ctx.group}/{ctx.version}", "kind": "ModelVersion",
            "metadata": {"name": name, "namespace": ns, "labels": {
                "herder.dev/model": spec.model_ref.name, TRAINING_UID_LABEL: meta["uid"],
                "app.kubernetes.io/managed-by": "herder-operator"}},
            "spec": {"modelRef": {"name": spec.model_ref.name}, "version": version,
                     "artifact": {"uri": uri, "digest": f"sha256:{sha}", "format": "skops",
                                  **({"metadataUri": metadata_uri} if metadata_uri else {}),
                                  **onnx_fields(summary, out_dir)},
                     "lineage": lineage, "metrics": _decimals(summary.get("metrics") or {})},
        }
        if model_body.get("metadata", {}).get("uid"):
            mv["metadata"]["ownerReferences"] = [Owner.from_body("Model", model_body).reference() | {
                "controller": False}]
        try:
            ctx.clients.custom.create_namespaced_custom_object(ctx.group, ctx.version, ns, "modelversions", mv)
            ctx.metrics.writes.labels(self.kind, "ModelVersion", "create").inc()
        except ApiException as e:
            if e.status != 409:
                raise
            live = ctx.clients.custom.get_namespaced_custom_object(ctx.group, ctx.version, ns, "modelversions", name)
            if live["metadata"].get("labels", {}).get(TRAINING_UID_LABEL) != meta["uid"]:
                raise RuntimeError(f"ModelVersion {name} already exists and was not produced by this run") from e
        return name

