"""`herder validate`: digest of the raw bytes, schema problems, and a profile in metadata.json's bin shape."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from herder.serving.drift import FeatureBinCounter
from herder.serving.signature import signature_from_metadata
from herder.storage.metadata import ArtifactMetadata, BaselineProfile, CategoricalBins, FeatureSpec, NumericBins
from herder.storage.metadata_reader import parse_metadata
from herder.training.results import ValidationResult

from .conftest import DATA, IRIS, IRIS_SCHEMA, Runner, sha256


def _request(uri: str, out: Path | None, **overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "source": {"uri": uri, "format": "csv"},
        "schema": json.loads(json.dumps(IRIS_SCHEMA)),
        "validation": {"maxNullFraction": "0.01", "minRows": 100},
    }
    if out is not None:
        request["outputPath"] = str(out)
    request.update(overrides)
    return request


def _result(path: Path) -> ValidationResult:
    return ValidationResult.model_validate_json(path.read_text())


@pytest.fixture
def http_data() -> Iterator[str]:
    """examples/data served by a local http.server on 127.0.0.1 (loopback rule)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(DATA))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_valid_iris_digest_rows_and_profile(validate: Runner, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    outcome = validate(_request(str(IRIS), out))
    assert outcome.code == 0, outcome.message
    summary = outcome.summary()
    profile = summary.pop("profile")
    assert summary == {"valid": True, "digest": sha256(IRIS), "rows": 150, "sizeBytes": IRIS.stat().st_size,
                       "columns": 5, "result": str(out), "profileComplete": True, "snapshot": None,
                       "drift": []}
    assert [c["name"] for c in profile] == ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    result = _result(out)
    assert result.digest == sha256(IRIS)
    assert result.rows == 150 and result.valid and result.problems == []
    by_name = {p.name: p for p in result.profile}
    sepal = by_name["sepal_length"]
    assert sepal.count == 150 and sepal.nulls == 0
    assert sepal.min == 4.3 and sepal.max == 7.9
    assert sepal.mean == pytest.approx(5.8433, abs=1e-4)
    assert sepal.quantiles is not None and sepal.quantiles["p50"] == 5.8
    assert sepal.bin_strategy == "quantile"
    assert isinstance(sepal.bins, NumericBins) and sepal.bin_counts is not None
    assert len(sepal.bin_counts) == len(sepal.bins.edges) + 1 and sum(sepal.bin_counts) == 150
    species = by_name["species"]
    assert isinstance(species.bins, CategoricalBins)
    assert species.bins.categories == ["setosa", "versicolor", "virginica"]
    assert species.bin_counts == [50, 50, 50, 0]
    assert species.top is not None and {t.count for t in species.top} == {50}


def test_profile_is_exactly_the_metadata_baseline_shape_and_bin_convention(validate: Runner, tmp_path: Path) -> None:
    """The profile's bins drop into ArtifactMetadata unchanged, and the server's counters reproduce its counts."""
    out = tmp_path / "result.json"
    assert validate(_request(str(IRIS), out)).code == 0
    result = _result(out)
    raw = json.loads(out.read_text())
    baseline = BaselineProfile.model_validate({"features": {c["name"]: c["bins"] for c in raw["profile"]}})
    assert baseline == result.baseline()
    features = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    metadata = ArtifactMetadata(
        name="iris",
        version="1",
        task="regression",
        sha256="0" * 64,
        features=[FeatureSpec(name=n) for n in features],
        baseline=result.baseline(features),
    )
    served = parse_metadata(metadata.model_dump_json().encode())  # as the server reads what the trainer wrote
    signature = signature_from_metadata(served, object(), "0" * 64)
    counter = FeatureBinCounter.build(signature, served.baseline)
    counter.observe(pd.read_csv(IRIS)[features].to_numpy(dtype=np.float64))
    counted = {name: [] for name in features}  # type: dict[str, list[int]]
    for name, _, count in counter.series():
        counted[name].append(count)
    assert counted == {p.name: p.bin_counts for p in result.profile if p.name in features}


def test_uniform_bins_are_equal_width(validate: Runner, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    assert validate(_request(str(IRIS), out, bins=4, binStrategy="uniform")).code == 0
    sepal = next(p for p in _result(out).profile if p.name == "sepal_length")
    assert sepal.bin_strategy == "uniform"
    assert isinstance(sepal.bins, NumericBins)
    assert sepal.bins.edges == pytest.approx([5.2, 6.1, 7.0])


def test_valid_content_is_snapshotted_once_by_digest_and_invalid_content_never(validate: Runner,
                                                                                tmp_path: Path) -> None:
    """The snapshot is what training reads later: named by the digest, written once (a second validation of the
    same bytes leaves the file alone), and only for content that passed."""
    snapshots = tmp_path / "snapshots"
    outcome = validate(_request(str(IRIS), None, snapshotDir=str(snapshots)))
    assert outcome.code == 0, outcome.message
    target = snapshots / "sha256" / f"{sha256(IRIS).removeprefix('sha256:')}.csv"
    assert outcome.summary()["snapshot"] == f"file://{target}"
    assert target.read_bytes() == IRIS.read_bytes()
    written = target.stat().st_mtime_ns
    assert validate(_request(str(IRIS), None, snapshotDir=str(snapshots))).code == 0
    assert target.stat().st_mtime_ns == written
    broken = tmp_path / "broken.csv"
    broken.write_text("sepal_length,sepal_width\n1,2\n")
    assert validate(_request(str(broken), None, snapshotDir=str(snapshots))).code == 2
    assert sorted(p.name for p in (snapshots / "sha256").iterdir()) == [target.name]


def test_invalid_data_exit_2_reason_in_termination_and_problems_in_result(
    validate: Runner, iris_copy: Path, tmp_path: Path
) -> None:
    text = iris_copy.read_text().replace("5.1,3.5,1.4,0.2,setosa", "5.1,,1.4,0.2,setosaa", 1)
    iris_copy.write_text(text.replace("4.9,3.0,1.4,0.2", "4.9,,1.4,0.2", 1))
    schema = json.loads(json.dumps(IRIS_SCHEMA))
    schema["columns"][1]["nullable"] = True
    out = tmp_path / "result.json"
    outcome = validate(_request(str(iris_copy), out, schema=schema))
    assert outcome.code == 2
    assert outcome.message == (
        "column 'sepal_width': 2 nulls (1.33%) > maxNullFraction 1%; "
        "column 'species': 1 values not in categories ['setosa', 'versicolor', 'virginica'] (e.g. 'setosaa')"
    )
    result = _result(out)
    assert not result.valid
    assert [(p.column, p.problem) for p in result.problems] == [
        ("sepal_width", "null_fraction"),
        ("species", "unknown_category"),
    ]
    assert result.digest == sha256(iris_copy)


def test_dataset_wide_rules(validate: Runner, iris_copy: Path, tmp_path: Path) -> None:
    outcome = validate(_request(str(iris_copy), None, validation={"minRows": 1000, "maxDuplicateFraction": "0"}))
    assert outcome.code == 2
    assert outcome.message == "150 rows < minRows 1000; 1 duplicate rows (0.67%) > maxDuplicateFraction 0%"


def test_expected_digest_mismatch(validate: Runner) -> None:
    outcome = validate(_request(str(IRIS), None, expectedDigest="sha256:" + "ab" * 32))
    assert outcome.code == 2
    assert "ab" * 32 in outcome.message and sha256(IRIS) in outcome.message


def test_http_uri_from_a_loopback_server(validate: Runner, http_data: str, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    outcome = validate(_request(f"{http_data}/iris.csv", out))
    assert outcome.code == 0, outcome.message
    assert _result(out).digest == sha256(IRIS)


def test_http_uri_that_does_not_exist(validate: Runner, http_data: str) -> None:
    outcome = validate(_request(f"{http_data}/nope.csv", None))
    assert outcome.code == 2
    assert outcome.message == f"cannot read dataset: not found: {http_data}/nope.csv"


def test_parquet_gives_the_same_profile_as_csv(validate: Runner, tmp_path: Path) -> None:
    parquet = tmp_path / "iris.parquet"
    pd.read_csv(IRIS).to_parquet(parquet)
    csv_out, parquet_out = tmp_path / "csv.json", tmp_path / "parquet.json"
    assert validate(_request(str(IRIS), csv_out)).code == 0
    request = _request(f"file://{parquet}", parquet_out)
    request["source"]["format"] = "parquet"
    assert validate(request).code == 0, "parquet"
    assert _result(parquet_out).digest == sha256(parquet)
    assert _result(parquet_out).profile == _result(csv_out).profile


def test_csv_options_delimiter_and_no_header(validate: Runner, tmp_path: Path) -> None:
    data = tmp_path / "iris.txt"
    data.write_text("\n".join(line.replace(",", ";") for line in IRIS.read_text().splitlines()[1:]) + "\n")
    request = _request(str(data), tmp_path / "r.json")
    request["source"]["options"] = {"delimiter": ";", "header": False}
    outcome = validate(request)
    assert outcome.code == 0, outcome.message
    assert outcome.summary()["rows"] == 150


def test_types_bool_int_and_text_columns(validate: Runner, tmp_path: Path) -> None:
    data = tmp_path / "mixed.csv"
    data.write_text("flag,count,code\ntrue,1,01\nFalse,2,02\nyes,3,01\n0,4.5,03\nmaybe,x,01\n")
    schema = {
        "columns": [
            {"name": "flag", "type": "bool"},
            {"name": "count", "type": "int"},
            {"name": "code", "type": "category"},
        ]
    }
    out = tmp_path / "r.json"
    outcome = validate({"source": {"uri": str(data)}, "schema": schema, "outputPath": str(out)})
    assert outcome.code == 2
    problems = {p.column: p.message for p in _result(out).problems}
    assert problems["flag"] == "column 'flag': 1 values are not booleans (e.g. 'maybe')"
    assert problems["count"] == "column 'count': 1 values are not numbers (e.g. 'x')"
    profile = {p.name: p for p in _result(out).profile}
    assert isinstance(profile["flag"].bins, CategoricalBins)
    assert profile["flag"].bins.categories == [False, True]
    assert profile["flag"].bin_counts == [2, 2, 0]
    assert profile["code"].top is not None and profile["code"].top[0].value == "01"


def test_a_request_with_a_bad_schema_is_rejected(validate: Runner) -> None:
    request = _request(str(IRIS), None)
    request["schema"]["columns"][0]["min"] = "ten"
    outcome = validate(request)
    assert outcome.code == 2
    assert "schema.columns.0" in outcome.message and "expected a decimal string, got 'ten'" in outcome.message


def _shifted(tmp_path: Path, column: str, by: float) -> Path:
    frame = pd.read_csv(IRIS)
    frame[column] = frame[column] + by
    path = tmp_path / f"shifted-{column}.csv"
    frame.to_csv(path, index=False)
    return path


def test_drift_against_a_reference_revision_is_psi_in_its_own_bins(validate: Runner, tmp_path: Path) -> None:
    """A new revision is compared with an earlier one in the earlier one's bins (the status profile the operator
    passes): the shifted column shows a large PSI, the others none, the unchanged content none at all."""
    first = validate(_request(str(IRIS), None))
    reference = {"revision": 1, "profile": first.summary()["profile"]}
    same = validate(_request(str(IRIS), None, references=[reference]))
    [unchanged] = same.summary()["drift"]
    assert unchanged["revision"] == 1 and unchanged["value"] == 0.0
    moved = validate(_request(str(_shifted(tmp_path, "petal_length", 1.5)), None, references=[reference]))
    assert moved.code == 0, moved.message
    [drift] = moved.summary()["drift"]
    assert drift["revision"] == 1 and drift["column"] == "petal_length"
    assert drift["value"] > 0.25 and drift["columns"]["petal_length"] == drift["value"]
    assert all(v == 0.0 for k, v in drift["columns"].items() if k != "petal_length")
    assert len(drift["columns"]) == 5  # the target (species) is compared too


def test_drift_skips_what_it_cannot_compare(tmp_path: Path) -> None:
    """A damaged reference entry or a column the new content lacks compares nothing; the rest still does."""
    from herder.training.requests import DriftReference
    from herder.training.revision_drift import drift_against

    frame = pd.read_csv(IRIS)
    good = {"name": "sepal_length", "type": "float", "bins": {"edges": ["5", "6"], "counts": [30, 60, 60]}}
    gone = {"name": "not_there", "type": "float", "bins": {"edges": ["1"], "counts": [1, 1]}}
    damaged = {"name": "petal_width", "bins": {"edges": ["x"]}}
    drift = drift_against(frame, DriftReference(revision=3, profile=[good, gone, damaged]))
    assert drift.revision == 3 and drift.column == "sepal_length" and drift.value is not None
    assert drift.skipped == ["not_there: not in the new content"]
    empty = drift_against(frame, DriftReference(revision=3, profile=[damaged]))
    assert (empty.value, empty.column, empty.columns) == (None, None, {})


def test_an_invalid_revision_reports_no_drift(validate: Runner, tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text("sepal_length,sepal_width\n1,2\n")
    outcome = validate(_request(str(broken), None, references=[{"revision": 1, "profile": []}]))
    assert outcome.code == 2 and "drift" not in outcome.message
