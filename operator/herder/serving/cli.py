"""`herder serve`: parse configuration, load and verify the model, then serve until SIGTERM.

Exit codes: 0 after a clean drain, 2 for invalid configuration, 3 when the model is refused (digest mismatch,
unsafe format, untrusted types, bad metadata, unreadable URI). A refused model never opens the port, so the
pod never reports ready.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Sequence

EXIT_CONFIG = 2
EXIT_REFUSED = 3


def main(argv: Sequence[str]) -> int:
    # Start-up allocates hundreds of thousands of long-lived objects (modules, classes, the model) and little
    # garbage: the collector's passes over them cost ~0.1 s of start-up. It is off until run() freezes them.
    gc.disable()
    try:
        return _main(argv)
    finally:
        gc.enable()


def _main(argv: Sequence[str]) -> int:
    from herder.serving.config import ConfigError, parse_config
    from herder.storage.errors import StorageError
    from herder.storage.formats import ArtifactFormat

    try:
        config = parse_config(argv, os.environ)
    except ConfigError as exc:
        print(f"herder serve: invalid configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if config.format is not ArtifactFormat.ONNX:  # an ONNX server never imports scikit-learn, scipy or skops
        _import_sklearn()
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    from herder.serving.loading import load_served_model

    try:
        model = load_served_model(config)
    except (StorageError, ConfigError) as exc:
        print(f"herder serve: refusing to serve {config.model_uri}: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    return run(config, model)


def _import_sklearn() -> None:
    """scikit-learn and skops, without pandas (see lean_imports), and skops' trusted names from the snapshot."""
    from herder.serving.lean_imports import pandas_deferred
    from herder.serving.skops_defaults import install_snapshot

    with pandas_deferred():
        import sklearn  # noqa: F401 - imported here, without pandas (see lean_imports)

        install_snapshot()  # skops' default trusted names without importing all of scikit-learn
        import skops.io  # noqa: F401


def release_free_heap() -> None:
    """Give the C heap's free pages back to the OS (glibc only; a no-op elsewhere).

    Deserialising a model allocates transient buffers (the RandomForest of the benchmark: ~12 MiB) that glibc
    keeps mapped after they are freed; malloc_trim returns them, so RSS reflects what the model really uses.
    """
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def run(config: object, model: object) -> int:
    """Build the app around a loaded model and serve it (blocking)."""
    import uvicorn

    from herder.serving.app import HerderApp
    from herder.serving.config import ServeConfig
    from herder.serving.dataplane import DataPlane, DataPlaneSettings
    from herder.serving.metrics import ServerMetrics
    from herder.serving.model import ServedModel
    from herder.serving.payload_log import PayloadLog
    from herder.serving.server import DrainingServer

    assert isinstance(config, ServeConfig)
    assert isinstance(model, ServedModel)
    if "sklearn" in sys.modules:
        import sklearn

        # Inputs are validated (finite, right shape) before the model sees them; skip sklearn's repeated checks.
        sklearn.set_config(assume_finite=True, skip_parameter_validation=True)
    # Everything imported and loaded so far lives for the whole process: move it out of the collector's sight so
    # full collections (which would walk all of scikit-learn's objects) stop adding pauses to request latency.
    # No gc.collect() first: start-up leaves ~7,000 garbage objects (<1 MiB, measured) and a full collection
    # would cost ~0.1 s of start-up; memory freed by it would stay in Python's allocator anyway.
    gc.freeze()
    gc.enable()
    release_free_heap()
    metrics = ServerMetrics(model=model, enabled=config.metrics)
    payload_log = None
    if config.payload_log is not None:
        unknown = sorted(set(config.payload_log_exclude) - set(model.signature.names))
        if unknown:
            print(f"herder serve: --payload-log-exclude names unknown features: {', '.join(unknown)} "
                  f"(features: {', '.join(model.signature.names)})", file=sys.stderr)
            return EXIT_CONFIG
        payload_log = PayloadLog(
            root=config.payload_log, sample_rate=config.payload_log_sample_rate, model=model.name,
            version=model.version, flush_seconds=config.payload_log_flush_seconds,
            max_bytes_per_hour=config.payload_log_max_mib_per_hour * 1024 * 1024,
            max_buffer_records=config.payload_log_max_buffer_records, storage_options=config.storage_options(),
        )
    dataplane = DataPlane(
        model=model,
        metrics=metrics,
        settings=DataPlaneSettings(
            max_batch_size=config.max_batch_size,
            max_batch_wait_ms=config.max_batch_wait_ms,
            feedback_window=config.feedback_window,
            inject_error_rate=config.inject_error_rate,
            inject_latency_ms=config.inject_latency_ms,
        ),
        payload_log=payload_log,
        payload_exclude=config.payload_log_exclude,
    )
    app = HerderApp(
        model=model,
        dataplane=dataplane,
        metrics=metrics,
        max_body_bytes=config.max_body_bytes,
        max_concurrency=config.max_concurrency,
        metrics_enabled=config.metrics,
    )
    uv_config = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level=config.log_level,
        server_header=False,
        date_header=False,
        backlog=2048,
        timeout_graceful_shutdown=int(config.graceful_timeout_seconds),
    )
    server = DrainingServer(uv_config, app, dataplane, config.drain_seconds)
    server.run()
    return 0 if server.started else 1
