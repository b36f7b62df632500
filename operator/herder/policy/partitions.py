"""Partitioned sources: a glob or a prefix of many files, and the window of partitions a revision reads.

A user's data grows by partitions (``s3://events/clicks/dt=2026-12-01/part-0.parquet``); a Dataset names them by a
glob (``s3://events/clicks/dt=*/part-*.parquet``) or a prefix ending in ``/`` (every file of the Dataset's format
below it), optionally with a window: the newest N partitions, or the parts modified within a duration.

A *partition* is the directory a part sits in, relative to the root (the URI up to the first glob character, or
the prefix): ``dt=2026-12-01``. Partitions sort by name, which is time order for the usual ``key=YYYY-MM-DD``
layout (and for zero-padded numbers); parts directly under the root are each their own partition. Parts are read
in path order, so the same files always make the same rows in the same order -- the revision's digest (sha256 of
the combined content, which is also the snapshot's bytes) then changes exactly when a selected part's bytes, or
the selection, change.

Pure functions over a listing (no I/O): the validation pod lists through fsspec and reads what :func:`select`
keeps; the operator lists the same way for its cheap refresh check and hashes :func:`listing_fingerprint`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class Part:
    """One file of a listing: its path (without scheme), size and modification time (epoch seconds)."""

    path: str
    size: int | None = None
    mtime: float | None = None
    etag: str | None = None


@dataclass(frozen=True)
class Window:
    """Which partitions a revision reads: the newest ``newest`` partitions, or parts modified within
    ``newer_than_seconds`` of now (None and None: every part)."""

    newest: int | None = None
    newer_than_seconds: float | None = None

    def describe(self) -> str:
        if self.newest is not None:
            return f"newest {self.newest} partition(s)"
        if self.newer_than_seconds is not None:
            return f"parts modified within the last {self.newer_than_seconds:g}s"
        return "every part"


def is_partitioned(uri: str) -> bool:
    """A glob (``*``, ``?``, ``[``) or a prefix (a trailing ``/``) names many parts (s3:// and file:// only: an
    http server cannot be listed, and ``?`` there starts a query)."""
    if uri.startswith(("http://", "https://")):
        return False
    return uri.endswith("/") or GLOB.search(uri.split("://", 1)[-1]) is not None


def root_of(path: str) -> str:
    """The directory every part is under: up to the last ``/`` before the first glob character."""
    first = GLOB.search(path)
    head = path[: first.start()] if first else path
    return head if head.endswith("/") else head.rsplit("/", 1)[0] + "/"


def partition_of(path: str, root: str) -> str:
    """The part's directory relative to ``root`` (``dt=2026-12-01``), or its own name directly under the root."""
    relative = path[len(root):] if path.startswith(root) else path
    return relative.rsplit("/", 1)[0] if "/" in relative else relative


def select(parts: Sequence[Part], root: str, window: Window, now: float) -> list[Part]:
    """The parts the window keeps, in path order."""
    chosen = sorted(parts, key=lambda p: p.path)
    if window.newest is not None:
        partitions = sorted({partition_of(p.path, root) for p in chosen})[-window.newest:]
        keep = set(partitions)
        chosen = [p for p in chosen if partition_of(p.path, root) in keep]
    if window.newer_than_seconds is not None:
        chosen = [p for p in chosen if p.mtime is not None and now - p.mtime <= window.newer_than_seconds]
    return chosen


def listing_fingerprint(parts: Sequence[Part]) -> str:
    """One string for the operator's refresh check that changes when any selected part's metadata, or the
    selection, changes: ``parts=<n>;sha256=<16 hex of the sorted (path, size, etag, mtime) lines>``."""
    lines = "".join(f"{p.path}\t{p.size}\t{p.etag}\t{p.mtime}\n" for p in sorted(parts, key=lambda p: p.path))
    return f"parts={len(parts)};sha256={hashlib.sha256(lines.encode()).hexdigest()[:16]}"
