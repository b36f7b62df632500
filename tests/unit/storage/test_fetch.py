"""Fetching into the digest-addressed cache: local, http(s) and S3 (moto) on loopback only."""

from __future__ import annotations

import hashlib
import http.server
import os
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from herder.storage.errors import ArtifactTooLargeError, DigestMismatchError, DigestRequiredError, FetchError
from herder.storage.fetch import fetch_verified, read_small

PAYLOAD = b"artifact bytes " * 1000
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    path = tmp_path / "src" / "model.skops"
    path.parent.mkdir()
    path.write_bytes(PAYLOAD)
    return path


def test_local_pinned_copy_lands_under_its_digest(artifact: Path, tmp_path: Path) -> None:
    got = fetch_verified(str(artifact), tmp_path / "cache", DIGEST)
    assert got.path == tmp_path / "cache" / DIGEST
    assert got.path.read_bytes() == PAYLOAD
    assert got.pinned
    again = fetch_verified(f"file://{artifact}", tmp_path / "cache", "sha256:" + DIGEST.upper())
    assert again.path == got.path


def test_mismatch_is_refused_and_nothing_is_cached(artifact: Path, tmp_path: Path) -> None:
    with pytest.raises(DigestMismatchError, match=f"expected {'0' * 64}, got {DIGEST}"):
        fetch_verified(str(artifact), tmp_path / "cache", "0" * 64)
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_tampered_cache_entry_is_not_trusted(artifact: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / DIGEST).write_bytes(b"tampered")
    got = fetch_verified(str(artifact), cache, DIGEST)
    assert got.path.read_bytes() == PAYLOAD


def test_unpinned_needs_local_and_explicit_permission(artifact: Path, tmp_path: Path) -> None:
    with pytest.raises(DigestRequiredError, match="no expected sha256"):
        fetch_verified(str(artifact), tmp_path / "cache", None)
    got = fetch_verified(str(artifact), tmp_path / "cache", None, allow_unpinned_local=True)
    assert got.sha256 == DIGEST
    assert not got.pinned
    with pytest.raises(DigestRequiredError, match="only local files"):
        fetch_verified("s3://bucket/model.skops", tmp_path / "cache", None, allow_unpinned_local=True)


def test_malformed_digest_and_missing_file(artifact: Path, tmp_path: Path) -> None:
    with pytest.raises(DigestMismatchError, match="not a sha256 hex digest"):
        fetch_verified(str(artifact), tmp_path / "cache", "abc")
    with pytest.raises(FetchError, match="not found"):
        fetch_verified(str(tmp_path / "missing.skops"), tmp_path / "cache", DIGEST)


def test_size_cap(artifact: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactTooLargeError, match="larger than the cap of 100 bytes"):
        fetch_verified(str(artifact), tmp_path / "cache", DIGEST, max_bytes=100)
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    root.mkdir()
    (root / "model.skops").write_bytes(PAYLOAD)
    (root / "metadata.json").write_bytes(b'{"x": 1}')
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_on_loopback(http_root: str, tmp_path: Path) -> None:
    got = fetch_verified(f"{http_root}/model.skops", tmp_path / "cache", DIGEST)
    assert got.path.read_bytes() == PAYLOAD
    with pytest.raises(DigestMismatchError):
        fetch_verified(f"{http_root}/model.skops", tmp_path / "cache2", "1" * 64)
    with pytest.raises(FetchError):
        fetch_verified(f"{http_root}/absent.skops", tmp_path / "cache3", DIGEST)
    assert read_small(f"{http_root}/metadata.json") == b'{"x": 1}'


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_s3_on_a_loopback_moto_server(s3_endpoint: str, tmp_path: Path) -> None:
    import boto3

    assert s3_endpoint.startswith("http://127.0.0.1:")
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="artifacts")
    s3.put_object(Bucket="artifacts", Key="m/1/model.skops", Body=PAYLOAD)
    options = {"endpoint_url": s3_endpoint}
    got = fetch_verified("s3://artifacts/m/1/model.skops", tmp_path / "cache", DIGEST, storage_options=options)
    assert got.path.read_bytes() == PAYLOAD
    with pytest.raises(DigestMismatchError):
        fetch_verified("s3://artifacts/m/1/model.skops", tmp_path / "c2", "2" * 64, storage_options=options)
    with pytest.raises(FetchError):
        fetch_verified("s3://artifacts/m/2/model.skops", tmp_path / "c3", DIGEST, storage_options=options)
