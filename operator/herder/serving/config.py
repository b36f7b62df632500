"""Server configuration from flags and environment variables (the operator sets either in a Deployment).

Every flag ``--some-name`` has an environment twin ``HERDER_SOME_NAME``; a flag given on the command line wins
over the environment, which wins over the default. Parsing is pure: ``parse_config(argv, env)`` returns a
frozen ServeConfig or raises ConfigError, so it is tested without starting anything.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from herder.storage.formats import ArtifactFormat

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


class ConfigError(ValueError):
    """A flag or environment value is missing or invalid; the message names it."""


@dataclass(frozen=True)
class ServeConfig:
    """Everything `herder serve` needs; see docs/serving.md for the meaning of each field."""

    model_uri: str
    model_name: str | None = None
    model_version: str | None = None
    sha256: str | None = None
    allow_unverified_local: bool = False
    format: ArtifactFormat = ArtifactFormat.SKOPS
    allow_unsafe_pickle: bool = False
    trusted_types: tuple[str, ...] = ()
    metadata_uri: str | None = None
    metadata_sha256: str | None = None
    cache_dir: Path = field(default_factory=lambda: Path("/tmp/herder-cache"))  # noqa: S108
    s3_endpoint_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    max_batch_size: int = 1
    max_batch_wait_ms: float = 2.0
    max_body_bytes: int = 8 * 1024 * 1024
    max_concurrency: int = 256
    payload_log: str | None = None
    payload_log_sample_rate: float = 1.0
    payload_log_flush_seconds: float = 5.0
    payload_log_max_mib_per_hour: int = 256
    payload_log_max_buffer_records: int = 100_000
    payload_log_exclude: tuple[str, ...] = ()
    metrics: bool = True
    linear_fast_path: bool = True
    feedback_window: int = 10_000
    drain_seconds: float = 2.0
    graceful_timeout_seconds: float = 30.0
    inject_error_rate: float = 0.0
    inject_latency_ms: float = 0.0
    log_level: str = "info"

    @property
    def batching(self) -> bool:
        return self.max_batch_size > 1

    def storage_options(self) -> dict[str, Any]:
        """fsspec options for s3 (endpoint override for S3-compatible stores)."""
        return {"endpoint_url": self.s3_endpoint_url} if self.s3_endpoint_url else {}


def _env_name(flag: str) -> str:
    return "HERDER_" + flag.lstrip("-").replace("-", "_").upper()


def _parse_bool(text: str, name: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name}: expected true/false, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser; defaults are None so environment values can fill the gaps."""
    p = argparse.ArgumentParser(
        prog="herder serve",
        description="Serve one model over V1 and Open Inference Protocol V2 REST. "
        "Every flag also reads HERDER_<FLAG_NAME> from the environment.",
    )
    add = p.add_argument
    add("--model-uri", help="artifact URI: local path, file://, http(s)://, s3:// (required)")
    add("--model-name", help="name in the URL paths (default: metadata name, else 'model')")
    add(
        "--model-version",
        help="version reported in metadata and metrics (default: metadata version, else '1')",
    )
    add("--sha256", help="expected sha256 of the artifact; required unless --allow-unverified-local")
    add(
        "--allow-unverified-local",
        action="store_const",
        const="true",
        help="dev only: accept a local file without --sha256 (never for pickle/joblib)",
    )
    add("--format", choices=[f.value for f in ArtifactFormat], help="artifact format (default skops)")
    add(
        "--allow-unsafe-pickle",
        action="store_const",
        const="true",
        help="permit pickle/joblib artifacts (still requires --sha256)",
    )
    add(
        "--trusted-type",
        action="append",
        dest="trusted_types",
        help="extra type trusted when loading skops (repeatable; env: comma-separated)",
    )
    add("--metadata-uri", help="URI of the metadata.json written beside the artifact")
    add("--metadata-sha256", help="optional expected sha256 of metadata.json")
    add("--cache-dir", help="local artifact cache (default /tmp/herder-cache)")
    add("--s3-endpoint-url", help="endpoint of an S3-compatible store")
    add("--host", help="bind address (default 127.0.0.1)")
    add("--port", help="port (default 8080)")
    add("--max-batch-size", help="rows per model call; 1 disables micro-batching (default 1)")
    add("--max-batch-wait-ms", help="longest wait to fill a batch, adaptive (default 2)")
    add("--max-body-bytes", help="request body cap, larger bodies get 413 (default 8 MiB)")
    add("--max-concurrency", help="in-flight inference requests before 503 (default 256)")
    add("--payload-log", help="directory or URI (s3://...) for parquet parts of sampled requests, responses and "
        "feedback labels (off if unset)")
    add("--payload-log-sample-rate", help="fraction of requests logged (default 1.0)")
    add("--payload-log-flush-seconds", help="longest a logged record waits in memory (default 5)")
    add("--payload-log-max-mib-per-hour", help="parquet written per pod and hour before sampling down (default 256)")
    add("--payload-log-max-buffer-records", help="records held in memory before new ones are dropped (default 100000)")
    add("--payload-log-exclude", action="append", dest="payload_log_exclude",
        help="feature never written to the payload log (repeatable; env: comma-separated)")
    add("--metrics", help="serve /metrics and record metrics: true/false (default true)")
    add("--no-metrics", dest="metrics", action="store_const", const="false", help="same as --metrics=false")
    add(
        "--linear-fast-path",
        help="predict plain linear models with numpy instead of scikit-learn's validated path (default true)",
    )
    add("--feedback-window", help="recent request ids kept for feedback, ~220 bytes each (default 10000)")
    add("--drain-seconds", help="after SIGTERM, keep answering (not ready) this long (default 2)")
    add("--graceful-timeout-seconds", help="then wait at most this long for in-flight requests (default 30)")
    add("--inject-error-rate", help="TESTS/DEMOS ONLY: fraction of inference requests answered 500")
    add("--inject-latency-ms", help="TESTS/DEMOS ONLY: extra latency added to every inference request")
    add("--log-level", help="debug, info, warning, error (default info)")
    return p


def _value(ns: argparse.Namespace, env: Mapping[str, str], dest: str, flag: str) -> str | None:
    given = getattr(ns, dest)
    if given is not None:
        return str(given)
    return env.get(_env_name(flag))


def _number(text: str | None, name: str, kind: type[int] | type[float], lo: float, hi: float) -> Any:
    if text is None:
        return None
    try:
        value = kind(text)
    except ValueError as exc:
        raise ConfigError(f"{name}: expected a number, got {text!r}") from exc
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ConfigError(f"{name}: {text!r} is outside [{lo}, {hi}]")
    return value


def _numbers(text: Callable[[str], str | None]) -> dict[str, Any]:
    """The numeric settings that were given, each checked against its range."""
    values: dict[str, Any] = {}
    ints = {
        "port": (0, 65535),
        "max_batch_size": (1, 65536),
        "max_body_bytes": (1, 2**40),
        "max_concurrency": (1, 1_000_000),
        "feedback_window": (0, 10_000_000),
        "payload_log_max_mib_per_hour": (1, 1_000_000),
        "payload_log_max_buffer_records": (1, 100_000_000),
    }
    for dest, (lo, hi) in ints.items():
        if (n := _number(text(dest), "--" + dest.replace("_", "-"), int, lo, hi)) is not None:
            values[dest] = n
    floats = {
        "max_batch_wait_ms": (0.0, 10_000.0),
        "payload_log_sample_rate": (0.0, 1.0),
        "payload_log_flush_seconds": (0.1, 3600.0),
        "drain_seconds": (0.0, 3600.0),
        "graceful_timeout_seconds": (0.0, 3600.0),
        "inject_error_rate": (0.0, 1.0),
        "inject_latency_ms": (0.0, 60_000.0),
    }
    for dest, (flo, fhi) in floats.items():
        if (x := _number(text(dest), "--" + dest.replace("_", "-"), float, flo, fhi)) is not None:
            values[dest] = x
    return values


def parse_config(argv: Sequence[str], env: Mapping[str, str]) -> ServeConfig:
    """Combine flags and environment into a validated ServeConfig."""
    ns = build_parser().parse_args(list(argv))
    values: dict[str, Any] = {}

    def text(dest: str) -> str | None:
        return _value(ns, env, dest, "--" + dest.replace("_", "-"))

    model_uri = text("model_uri")
    if not model_uri:
        raise ConfigError("--model-uri (or HERDER_MODEL_URI) is required")
    for dest in (
        "model_name",
        "model_version",
        "sha256",
        "metadata_uri",
        "metadata_sha256",
        "s3_endpoint_url",
    ):
        if (v := text(dest)) is not None and v != "":
            values[dest] = v
    if (v := text("host")) is not None:
        values["host"] = v
    if (v := text("log_level")) is not None:
        if v.lower() not in {"debug", "info", "warning", "error", "critical"}:
            raise ConfigError(f"--log-level: unknown level {v!r}")
        values["log_level"] = v.lower()
    if (v := text("format")) is not None:
        try:
            values["format"] = ArtifactFormat(v.lower())
        except ValueError as exc:
            raise ConfigError(f"--format: expected skops, onnx, pickle or joblib, got {v!r}") from exc
    for dest in ("allow_unverified_local", "allow_unsafe_pickle", "metrics", "linear_fast_path"):
        if (v := text(dest)) is not None:
            values[dest] = _parse_bool(v, "--" + dest.replace("_", "-"))
    if ns.trusted_types:
        values["trusted_types"] = tuple(ns.trusted_types)
    elif env.get("HERDER_TRUSTED_TYPES"):
        values["trusted_types"] = tuple(t.strip() for t in env["HERDER_TRUSTED_TYPES"].split(",") if t.strip())
    if v := text("cache_dir"):
        values["cache_dir"] = Path(v)
    if v := text("payload_log"):
        values["payload_log"] = v
    if ns.payload_log_exclude:
        values["payload_log_exclude"] = tuple(ns.payload_log_exclude)
    elif env.get("HERDER_PAYLOAD_LOG_EXCLUDE"):
        values["payload_log_exclude"] = tuple(
            t.strip() for t in env["HERDER_PAYLOAD_LOG_EXCLUDE"].split(",") if t.strip())
    values.update(_numbers(text))
    config = ServeConfig(model_uri=model_uri, **values)
    if config.format is ArtifactFormat.ONNX and not config.metadata_uri:
        raise ConfigError("--format onnx requires --metadata-uri (the feature names, dtypes and classes live there)")
    if config.format in (ArtifactFormat.PICKLE, ArtifactFormat.JOBLIB) and not config.sha256:
        raise ConfigError(f"--format {config.format.value} requires --sha256 (pickle is only loaded pinned)")
    return config
