"""A source's cheap metadata (size, modification time, ETag) through fsspec, so the operator can tell whether a
Dataset's source changed without reading it: a refresh of an unchanged source then costs no validation Job.

Only remote sources are asked (s3://, http(s)://): the operator does not mount the namespaces' store claims, so a
file:// source is refreshed by the herder.dev/refresh annotation instead (the Dataset schema refuses
``spec.refresh`` for it). S3 credentials come from the operator's environment (the chart sets them from the
store Secret), the endpoint from HERDER_S3_ENDPOINT_URL or AWS_ENDPOINT_URL (an S3-compatible server).
"""

from __future__ import annotations

import os
from typing import Any

MAX_LENGTH = 512
KEYS = ("ETag", "etag", "LastModified", "last_modified", "mtime", "Last-Modified")


def s3_options() -> dict[str, Any]:
    endpoint = os.environ.get("HERDER_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
    return {"endpoint_url": endpoint} if endpoint else {}


def fingerprint(uri: str) -> str:
    """What the source says about itself, as one string that changes when its content does: ``missing`` when it
    is gone (the validation Job then records why), ``error=<type>`` when it cannot be asked (likewise)."""
    import fsspec  # only when a Dataset has spec.refresh: the operator otherwise never loads it

    options = s3_options() if uri.startswith("s3://") else {}
    try:
        fs, path = fsspec.core.url_to_fs(uri, **options)
        info = fs.info(path)
    except FileNotFoundError:
        return "missing"
    except Exception as exc:  # permission, network, a bad endpoint: the validation Job says which, with the URI
        return f"error={type(exc).__name__}"
    parts = [f"size={info.get('size')}"]
    parts += [f"{k.lower()}={info[k]}" for k in KEYS if info.get(k) is not None]
    return ";".join(parts)[:MAX_LENGTH]
