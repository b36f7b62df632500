"""One fix to skl2onnx 1.20.0 (the newest release), applied only in the training pod that converts models.

Its HistGradientBoosting converter passes Python ``False`` (and numpy uint8) as
``nodes_missing_value_tracks_true`` for tree nodes; onnx's ``make_attribute`` refuses booleans in an INTS
attribute ("Expected an int, got a boolean"), so every HistGradientBoosting model fails to convert. The wrapper
turns the value into the 0/1 integer the ONNX spec defines; nothing else changes. Remove it when skl2onnx
converts HistGradientBoosting on its own (``tests/unit/training/test_onnx_export.py`` shows when).
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def install() -> None:
    """Wrap ``skl2onnx.common.tree_ensemble.add_node`` (once per process)."""
    from skl2onnx.common import tree_ensemble

    original = tree_ensemble.add_node

    def add_node(*args: Any, nodes_missing_value_tracks_true: Any = 0, **kwargs: Any) -> Any:
        return original(*args, nodes_missing_value_tracks_true=int(nodes_missing_value_tracks_true), **kwargs)

    tree_ensemble.add_node = add_node
