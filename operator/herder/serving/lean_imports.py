"""Keep the server's memory and start-up small by deferring pandas until a model actually needs it.

Measured here: scikit-learn 1.9 imports pandas eagerly (``sklearn.utils.fixes``: ``try: import pandas``) though
it only uses it for DataFrame inputs; that alone is ~45 MiB of RSS and ~0.3 s of start-up. Blocking the
import while scikit-learn (and skops) load, then lifting the block, makes that try/except fall back to None;
scikit-learn detects DataFrames at call time from ``sys.modules``, and ServedModel imports pandas on demand for
models fitted on named columns, so nothing is lost.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def pandas_deferred() -> Iterator[None]:
    """Make ``import pandas`` fail inside the block (unless pandas is already loaded), then undo that."""
    if "pandas" in sys.modules:
        yield
        return
    sys.modules["pandas"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if sys.modules.get("pandas", 0) is None:
            del sys.modules["pandas"]
