"""A source's cheap metadata (size, modification time, ETag) through fsspec, so the operator can tell whether a
Dataset's source changed without reading it: a refresh of an unchanged source then costs no validation Job.

Only remote sources are asked (s3://, http(s)://): the operator does not mount the namespaces' store claims, so a
file:// source is refreshed by the herder.dev/refresh annotation instead (the Dataset schema refuses
``spec.refresh`` for it). S3 credentials come from the operator's environment (the chart sets them from the
store Secret), the endpoint from HERDER_S3_ENDPOINT_URL or AWS_ENDPOINT_URL (an S3-compatible server).
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from herder.policy.partitions import Part, Window, is_partitioned, listing_fingerprint, root_of, select

MAX_LENGTH = 512
KEYS = ("ETag", "etag", "LastModified", "last_modified", "mtime", "Last-Modified")


def s3_options() -> dict[str, Any]:
    endpoint = os.environ.get("HERDER_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
    return {"endpoint_url": endpoint} if endpoint else {}


def modified_time(info: dict[str, Any]) -> float | None:
    """Modification time (epoch seconds) of an fsspec listing entry: local files have ``mtime``, S3 objects
    ``LastModified``."""
    value = info.get("mtime", info.get("LastModified"))
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return None


def list_parts(uri: str, fmt: str, window: Window, now: float,
               options: dict[str, Any] | None = None) -> tuple[Any, str, list[Part]]:
    """(filesystem, root, the parts the window keeps) of a glob or prefix source: a glob as given, a prefix
    every file below it ending in ``.<format>``. Raises what fsspec raises (missing bucket, permission)."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(uri, **(options if options is not None else
                                            (s3_options() if uri.startswith("s3://") else {})))
    if uri.endswith("/"):
        found = fs.find(path, detail=True)
        found = {k: v for k, v in found.items() if k.endswith(f".{fmt}")}
    else:
        found = fs.glob(path, detail=True)
    parts = [Part(str(k), v.get("size"), modified_time(v), str(v.get("ETag") or v.get("etag") or "") or None)
             for k, v in found.items() if v.get("type", "file") == "file"]
    root = root_of(path if not uri.endswith("/") else path.rstrip("/") + "/")
    return fs, root, select(parts, root, window, now)


def fingerprint(uri: str, fmt: str = "csv", window: Window | None = None) -> str:
    """What the source says about itself, as one string that changes when its content does: ``missing`` when it
    is gone (the validation Job then records why), ``error=<type>`` when it cannot be asked (likewise). A glob or
    prefix source: the listing of the parts its window keeps (so a part ageing out of ``newerThan`` counts as a
    change too)."""
    import time

    import fsspec  # only when a Dataset has spec.refresh: the operator otherwise never loads it

    options = s3_options() if uri.startswith("s3://") else {}
    try:
        if is_partitioned(uri):
            _, _, selected = list_parts(uri, fmt, window or Window(), time.time(), options)
            return listing_fingerprint(selected)[:MAX_LENGTH]
        fs, path = fsspec.core.url_to_fs(uri, **options)
        info = fs.info(path)
    except FileNotFoundError:
        return "missing"
    except Exception as exc:  # permission, network, a bad endpoint: the validation Job says which, with the URI
        return f"error={type(exc).__name__}"
    parts = [f"size={info.get('size')}"]
    parts += [f"{k.lower()}={info[k]}" for k in KEYS if info.get(k) is not None]
    return ";".join(parts)[:MAX_LENGTH]
