"""Dataset from and artifacts to S3 (a moto server on 127.0.0.1), then served from S3 by the server's loader."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from herder.serving.config import ServeConfig
from herder.serving.loading import load_served_model
from herder.storage.metadata import parse_metadata

from .conftest import IRIS, Runner, iris_request, sha256


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    assert host == "127.0.0.1"
    monkeypatch.setenv("HERDER_S3_ENDPOINT_URL", endpoint)
    try:
        yield endpoint
    finally:
        server.stop()


def test_train_from_s3_to_s3_and_serve_from_s3(s3: str, train: Runner, tmp_path: Path) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=s3, region_name="us-east-1")
    client.create_bucket(Bucket="herder")
    client.put_object(Bucket="herder", Key="datasets/iris.csv", Body=IRIS.read_bytes())
    request = iris_request(IRIS, tmp_path, outputDir="s3://herder/models/iris/1")
    request["dataset"]["uri"] = "s3://herder/datasets/iris.csv"
    outcome = train(request)
    assert outcome.code == 0, outcome.message
    summary = outcome.summary()
    assert summary["artifact"] == "s3://herder/models/iris/1/model.skops"
    assert summary["datasetDigest"] == sha256(IRIS)
    metadata_raw = client.get_object(Bucket="herder", Key="models/iris/1/metadata.json")["Body"].read()
    metadata = parse_metadata(metadata_raw)
    assert metadata.sha256 == summary["sha256"]
    assert metadata.lineage["trustedTypes"] == summary["trustedTypes"] == ["numpy.dtype"]  # SimpleImputer's dtype

    again = train(request)  # a retried pod: same bytes already there, accepted
    assert again.code == 0, again.message
    assert json.loads(again.message)["sha256"] == summary["sha256"]

    served = load_served_model(
        ServeConfig(
            model_uri=summary["artifact"],
            sha256=summary["sha256"],
            metadata_uri=summary["metadata"],
            s3_endpoint_url=s3,
            trusted_types=tuple(metadata.lineage["trustedTypes"]),
            cache_dir=tmp_path / "cache",
        )
    )
    labels = served.predict(np.asarray([[5.1, 3.5, 1.4, 0.2]]), want_proba=False).labels
    assert labels.tolist() == ["setosa"]


def test_write_once_on_s3_keeps_the_first_bytes(s3: str) -> None:
    """Artifacts and snapshots are write-once on S3 too: the same bytes again are fine (a retried pod), other
    bytes are refused and the object is unchanged."""
    import boto3

    from herder.training.errors import ArtifactConflictError
    from herder.training.outputs import write_once

    client = boto3.client("s3", endpoint_url=s3)
    client.create_bucket(Bucket="store")
    write_once("s3://store/herder/snapshots/sha256/ab.csv", b"first")
    write_once("s3://store/herder/snapshots/sha256/ab.csv", b"first")
    with pytest.raises(ArtifactConflictError, match=r"already exists with sha256 .*refusing to overwrite"):
        write_once("s3://store/herder/snapshots/sha256/ab.csv", b"second")
    assert client.get_object(Bucket="store", Key="herder/snapshots/sha256/ab.csv")["Body"].read() == b"first"
