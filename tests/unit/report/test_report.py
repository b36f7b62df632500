"""``herder report``'s pure part: objects as the API server returns them -> index.html and PNGs."""

from __future__ import annotations

import copy
import datetime as dt
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from herder.report import main
from herder.report.data import report_data
from herder.report.page import NO_DRIFT
from herder.report.render import INDEX, render, write

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EVIL = "<script>alert('x')</script> & \"quotes\""


def _version(n: int, created: str, accuracy: str, **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "herder.dev/v1alpha1", "kind": "ModelVersion",
        "metadata": {"name": f"churn-v{n}", "namespace": "ml", "creationTimestamp": created},
        "spec": {"modelRef": {"name": "churn"}, "version": n,
                 "artifact": {"uri": f"file:///store/{n}.skops", "digest": "sha256:" + "a" * 64},
                 "lineage": {"trainingJob": f"churn-retrain-{n}", "dataset": {"name": "churn-data",
                                                                               "digest": "sha256:" + "b" * 64},
                             "estimator": {"class": "sklearn.linear_model.LogisticRegression"}},
                 "metrics": {"accuracy": accuracy, "f1": str(float(accuracy) - 0.05)}},
        "status": status,
    }


MODEL: dict[str, Any] = {
    "apiVersion": "herder.dev/v1alpha1", "kind": "Model",
    "metadata": {"name": "churn", "namespace": "ml"},
    "spec": {"task": "Classification",
             "retraining": {"triggers": {"metrics": [
                 {"name": "input-drift", "metric": "FeatureDriftPSI", "threshold": {"max": "0.25"}},
                 {"name": "accuracy", "metric": "Accuracy", "threshold": {"min": "0.8"}}]}}},
    "status": {
        "latestVersion": 3, "aliases": {"production": 3}, "productionMetrics": {"accuracy": "0.93"},
        "message": EVIL,
        "triggerMetrics": [
            {"name": "input-drift", "value": "0.41", "verdict": "Fail", "samples": 5000, "version": 2,
             "measuredAt": "2026-11-27T06:00:00Z", "message": "largest PSI 0.41 on feature 'tenure'",
             "features": {"tenure": "0.41", "plan": "0.03", "monthly_charges": "0.12"}},
            {"name": "accuracy", "value": "0.9", "verdict": "Pass", "samples": 200,
             "measuredAt": "2026-11-27T06:00:00Z"},
        ],
        "history": [
            {"at": "2026-11-27T05:00:00Z", "action": "Trained", "version": 1, "reason": "TrainingSucceeded"},
            {"at": "2026-11-27T05:01:00Z", "action": "Promoted", "version": 1, "reason": "GatePassed"},
            {"at": "2026-11-27T05:20:00Z", "action": "Trained", "version": 2, "reason": "TrainingSucceeded"},
            {"at": "2026-11-27T05:21:00Z", "action": "Promoted", "version": 2, "fromVersion": 1,
             "reason": "GatePassed"},
            {"at": "2026-11-27T05:30:00Z", "action": "RolledBack", "version": 1, "fromVersion": 2,
             "reason": "MonitoringBreach", "message": EVIL},
            {"at": "2026-11-27T05:59:00Z", "action": "RetrainTriggered", "reason": "DriftDetected",
             "metrics": {"input-drift": "0.41"}, "trainingJob": "churn-retrain-1"},
            {"at": "2026-11-27T06:10:00Z", "action": "Trained", "version": 3, "reason": "TrainingSucceeded"},
            {"at": "2026-11-27T06:12:00Z", "action": "Promoted", "version": 3, "fromVersion": 1,
             "reason": "GatePassed", "metrics": {"input-drift": "0.05"}},
        ],
    },
}
VERSIONS = [
    _version(1, "2026-11-27T05:00:00Z", "0.91"),
    _version(2, "2026-11-27T05:20:00Z", "0.94", conditions=[
        {"type": "Rejected", "status": "True", "reason": "RolledBack", "message": "error rate 0.2 > 0.05",
         "lastTransitionTime": "2026-11-27T05:30:00Z"}]),
    _version(3, "2026-11-27T06:10:00Z", "0.93", aliases=["production"]),
]
DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "herder.dev/v1alpha1", "kind": "ModelDeployment",
    "metadata": {"name": "churn-prod", "namespace": "ml"},
    "spec": {"model": {"name": "churn", "alias": "production"},
             "monitoring": {"metrics": [{"name": "errors", "metric": "ErrorRate", "threshold": {"max": "0.05"}}]}},
    "status": {"stableVersion": 3, "conditions": [{"type": "Ready", "status": "True", "reason": "Available",
                                                  "lastTransitionTime": "2026-11-27T06:15:00Z"}],
               "lastRollback": {"from": 2, "to": 1, "reason": "MonitoringBreach", "message": "errors 0.2",
                                "at": "2026-11-27T05:30:00Z"},
               "monitoringMetrics": [{"name": "errors", "value": "0.001", "verdict": "Pass", "samples": 900}]},
}
OTHER = {"metadata": {"name": "other"}, "spec": {"model": {"name": "not-churn", "version": 1}}}
NOW = dt.datetime(2026, 11, 27, 7, 0, tzinfo=dt.UTC)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_report_has_every_plot_as_a_real_png_and_the_page_references_them(tmp_path: Path) -> None:
    files = render(report_data(MODEL, VERSIONS, [DEPLOYMENT, OTHER], now=NOW))
    assert set(files) == {INDEX, "versions.png", "drift.png", "timeline.png"}
    for name, content in files.items():
        if name.endswith(".png"):
            width, height = _png_size(content)
            assert width > 300 and height > 150 and len(content) > 10_000, name
    page = files[INDEX].decode()
    for image in ("versions.png", "drift.png", "timeline.png"):
        assert f'<img src="{image}"' in page
    assert NO_DRIFT not in page
    paths = write(files, tmp_path / "out")
    assert paths[0] == tmp_path / "out" / INDEX and {p.name for p in paths} == set(files)
    assert (tmp_path / "out" / "drift.png").read_bytes() == files["drift.png"]


def test_page_shows_versions_history_drift_and_rollbacks() -> None:
    page = render(report_data(MODEL, VERSIONS, [DEPLOYMENT, OTHER], now=NOW))[INDEX].decode()
    assert "Model churn (ml)" in page and "production: v3" in page
    assert "churn-data@sha256:aaaa"[:17] in page and "churn-retrain-2" in page
    assert "RolledBack: error rate 0.2 &gt; 0.05" in page  # version 2 rejected after the rollback
    assert "tenure=0.41" in page and "DriftDetected" in page and "input-drift=0.41" in page
    assert "v2 → v1 at 2026-11-27 05:30:00 UTC: MonitoringBreach" in page
    assert "other" not in page.split("ModelDeployments serving this Model")[1]  # another model's deployment


def test_user_text_is_escaped() -> None:
    evil = copy.deepcopy(MODEL)
    evil["metadata"]["name"] = "a<b>"
    page = render(report_data(evil, [], [], now=NOW))[INDEX].decode()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quotes&quot;" in page
    assert "a&lt;b&gt;" in page and "<b>" not in page


def test_a_model_without_measurements_says_no_drift_measured_yet() -> None:
    bare = {"metadata": {"name": "fresh", "namespace": "ml"}, "spec": {"task": "Regression"}}
    files = render(report_data(bare, [], [], now=NOW))
    assert set(files) == {INDEX, "versions.png", "timeline.png"}  # no drift plot, an explicit text instead
    page = files[INDEX].decode()
    assert NO_DRIFT in page and "No ModelVersions yet." in page and "No ModelDeployment serves this Model." in page
    for name in ("versions.png", "timeline.png"):
        assert _png_size(files[name])[0] > 300  # an image that says so, not a broken link


def test_drift_only_on_history_still_plots() -> None:
    model = copy.deepcopy(MODEL)
    del model["status"]["triggerMetrics"]
    files = render(report_data(model, VERSIONS, [], now=NOW))
    assert "drift.png" in files and NO_DRIFT not in files[INDEX].decode()


def test_odd_objects_do_not_stop_the_report() -> None:
    odd = copy.deepcopy(MODEL)
    odd["status"]["history"].append({"at": "not a time", "action": "Trained"})
    odd["status"]["triggerMetrics"].append({"name": "x", "value": "NaN", "verdict": "Inconclusive",
                                            "features": {"a": "nope"}})
    odd["status"]["somethingNew"] = {"from": "a newer operator"}
    versions = [*VERSIONS, {"metadata": {"name": "broken"}, "spec": {"modelRef": {"name": "churn"}}}]
    data = report_data(odd, versions, [DEPLOYMENT], now=NOW)
    assert [v.version for v in data.versions] == [1, 2, 3]
    assert len(data.events) == 8  # the unparseable entry is skipped; the deployment's rollback is already there
    assert INDEX in render(data)


def test_unreachable_api_server_is_a_clear_error(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("""apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:9"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
""")
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-c", "import sys; from herder.report import main; "
                             "sys.exit(main(sys.argv[1:]))", "churn", "-n", "ml", "--kubeconfig", str(kubeconfig),
                             "--output", str(out)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1, result.stderr
    assert "cannot reach the Kubernetes API server to read Model 'churn' in namespace 'ml'" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_help_lists_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0
    text = capsys.readouterr().out
    assert all(opt in text for opt in ("MODEL", "--namespace", "--kubeconfig", "--output"))


def test_namespace_defaults_to_the_kubeconfig_context(tmp_path: Path) -> None:
    from herder.report.fetch import default_namespace

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("""apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:9"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: ml-team}}, {name: y, context: {cluster: c, user: u}}]
current-context: x
""")
    assert default_namespace(str(kubeconfig)) == "ml-team"
    kubeconfig.write_text(kubeconfig.read_text().replace("current-context: x", "current-context: y"))
    assert default_namespace(str(kubeconfig)) == "default"
    assert default_namespace(str(tmp_path / "missing")) == "default"


def test_a_long_history_still_renders() -> None:
    model = copy.deepcopy(MODEL)
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    model["status"]["history"] = [
        {"at": (start + dt.timedelta(hours=i)).isoformat().replace("+00:00", "Z"),
         "action": ("Trained", "Promoted", "RolledBack", "RetrainTriggered")[i % 4], "version": i // 4 + 1,
         "reason": "Test"} for i in range(200)]
    versions = [_version(n, f"2026-11-{1 + n // 8:02d}T00:00:00Z", str(0.8 + (n % 10) / 100)) for n in range(1, 120)]
    files = render(report_data(model, versions, [DEPLOYMENT], now=NOW))
    assert all(_png_size(files[n])[0] > 300 for n in ("versions.png", "timeline.png", "drift.png"))
    assert files[INDEX].decode().count("<tr>") > 300  # every version and step is in the tables
