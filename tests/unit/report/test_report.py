"""``herder report``'s pure part: objects as the API server returns them -> index.html and PNGs."""

from __future__ import annotations

import copy
import datetime as dt
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from herder.report import main
from herder.report.data import report_data
from herder.report.page import NO_DRIFT
from herder.report.render import INDEX, render, write
from tests.unit.report.objects import DEPLOYMENT, MODEL, NOW, OTHER, PNG_MAGIC, VERSIONS, version


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
    # version 2 passed the gate but failed live: the versions table says it was rolled back, when and why
    assert "rolled back to v1 at 2026-11-27 05:30:00 UTC: MonitoringBreach" in page
    assert "tenure=0.41" in page and "DriftDetected" in page and "input-drift=0.41" in page
    assert "v2 → v1 at 2026-11-27 05:30:00 UTC: MonitoringBreach" in page
    assert "other" not in page.split("ModelDeployments serving this Model")[1]  # another model's deployment


def test_rolled_back_versions_cv_spread_and_failed_retrains_are_told_apart() -> None:
    """What a reader stumbled on: a rolled-back version drawn like a healthy one, a panel per ``*_std`` value,
    and a failed retrain with no label on the timeline."""
    from herder.report.figures import panel_metrics

    model = copy.deepcopy(MODEL)
    model["status"]["history"].append({"at": "2026-11-27T06:30:00Z", "action": "RetrainFailed",
                                       "reason": "TrainingFailed", "trainingJob": "churn-retrain-3"})
    versions = copy.deepcopy(VERSIONS)
    for v in versions:
        v["spec"]["metrics"].update({"cv_accuracy": "0.9", "cv_accuracy_std": "0.02"})
    data = report_data(model, versions, [DEPLOYMENT], now=NOW)
    assert set(data.rolled_back) == {2}
    assert panel_metrics(data) == ["accuracy", "f1", "cv_accuracy"]
    failed = data.events[-1]
    assert (failed.action, failed.label, failed.training_job) == ("RetrainFailed", "TrainingFailed", "churn-retrain-3")
    assert [e.label for e in data.events if e.action == "Promoted"] == ["v1", "v1→v2", "v1→v3"]
    page = render(data)[INDEX].decode()
    assert "cv_accuracy=0.9±0.02" in page and "cv_accuracy_std=" not in page
    assert "churn-retrain-3" in page


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
    versions = [version(n, f"2026-11-{1 + n // 8:02d}T00:00:00Z", str(0.8 + (n % 10) / 100)) for n in range(1, 120)]
    files = render(report_data(model, versions, [DEPLOYMENT], now=NOW))
    assert all(_png_size(files[n])[0] > 300 for n in ("versions.png", "timeline.png", "drift.png"))
    assert files[INDEX].decode().count("<tr>") > 300  # every version and step is in the tables


def test_data_revisions_join_the_timeline_and_versions_name_their_revision() -> None:
    dataset = {"metadata": {"name": "churn-data"}, "status": {"revisions": [
        {"number": 2, "result": "Failed", "validatedAt": "2026-11-27T06:20:00Z", "job": "j2", "reason": "InvalidData",
         "message": "column 'plan' is missing"},
        {"number": 1, "result": "Passed", "validatedAt": "2026-11-27T04:50:00Z", "job": "j1", "rows": 5000,
         "digest": "sha256:" + "b" * 64}]}}
    versions = copy.deepcopy(VERSIONS)
    versions[0]["spec"]["lineage"]["dataset"]["revision"] = 1
    data = report_data(MODEL, versions, [DEPLOYMENT], now=NOW, datasets=[dataset])
    revs = [(e.action, e.label, e.source) for e in data.events if e.revision]
    assert revs == [("NewRevision", "rev 1", "Dataset churn-data"), ("RevisionFailed", "rev 2", "Dataset churn-data")]
    assert data.events[0].action == "NewRevision"  # oldest first: the data came before version 1
    assert data.versions[0].dataset == "churn-data rev 1@sha256:bbbbb"
    page = render(data)[INDEX].decode()
    assert "Dataset churn-data revision 2: column &#x27;plan&#x27; is missing" in page
