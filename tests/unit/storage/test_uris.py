from __future__ import annotations

import pytest

from herder.storage.errors import UnsupportedURIError
from herder.storage.uris import parse_uri


@pytest.mark.parametrize(
    ("uri", "scheme"),
    [
        ("/models/a.skops", "file"),
        ("relative/a.skops", "file"),
        ("file:///models/a.skops", "file"),
        ("s3://bucket/prefix/a.skops", "s3"),
        ("http://127.0.0.1:9000/a.skops", "http"),
        ("HTTPS://127.0.0.1/a.skops", "https"),
    ],
)
def test_accepted(uri: str, scheme: str) -> None:
    assert parse_uri(uri).scheme == scheme


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("", "empty URI"),
        ("ftp://host/a", "unsupported URI scheme 'ftp'"),
        ("gs://bucket/a", "unsupported URI scheme 'gs'"),
        ("memory://a", "unsupported URI scheme 'memory'"),
        ("simplecache::s3://bucket/a", "chained fsspec URIs are not allowed"),
        ("zip://a::file:///x.zip", "chained"),
        ("/models/../etc/passwd", "path traversal"),
        ("../secret", "path traversal"),
        ("s3://bucket/a/../../b", "path traversal"),
        ("s3://bucket/a/%2e%2e/b", "path traversal"),
        ("http://127.0.0.1/a/..%2fb/../c", "path traversal"),
        ("file://otherhost/a", "must not name a host"),
        ("s3:///no-bucket", "no host or bucket"),
        ("data:text/plain,hello", "unsupported URI"),
        ("/models/a\x00b", "NUL"),
    ],
)
def test_refused(uri: str, message: str) -> None:
    with pytest.raises(UnsupportedURIError, match=message):
        parse_uri(uri)
