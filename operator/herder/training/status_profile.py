"""The Dataset status view of a validation profile, small enough for the termination message.

The full profile (quantiles, top categories) stays in the result file in the store; the operator cannot read the
store (it has no volume of its own), so the validator hands over what ``kubectl get dataset -o yaml`` should show
— per column counts, nulls, range, mean, std and the drift-baseline bins — trimmed to fit the ~3 KiB budget of a
termination message (bins are dropped from the last columns first, then columns).
"""

from __future__ import annotations

import json
import math
from typing import Any

from herder.api.common import from_decimal
from herder.training.results import ValidationResult

STATUS_TYPES = {"int": "integer", "float": "float", "bool": "boolean", "string": "string", "category": "categorical"}


def _dec(value: float | None) -> str | None:
    if value is None or not math.isfinite(value):
        return None
    return from_decimal(value)


def column_view(col: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": col.name, "type": STATUS_TYPES.get(col.type, "string"), "count": col.count,
                           "nulls": col.nulls}
    if col.distinct is not None:
        out["distinct"] = col.distinct
    for key in ("min", "max", "mean", "std"):
        if (v := _dec(getattr(col, key))) is not None:
            out[key] = v
    bins = col.bins
    if bins is not None:
        view: dict[str, Any] = {"strategy": col.bin_strategy or ("categories" if bins.kind == "categorical"
                                                                   else "quantile")}
        if bins.kind == "numeric":
            view["edges"] = [e for e in (_dec(x) for x in bins.edges) if e is not None]
        else:
            view["categories"] = [str(c) for c in bins.categories]
        if col.bin_counts is not None:
            view["counts"] = list(col.bin_counts)
        out["bins"] = view
    return out


def status_profile(result: ValidationResult, budget: int = 2000) -> tuple[list[dict[str, Any]], bool]:
    """(profile for Dataset.status.profile, complete?) within ``budget`` bytes of JSON."""
    cols = [column_view(c) for c in result.profile]

    def size() -> int:
        return len(json.dumps(cols, separators=(",", ":")))

    complete = True
    for c in reversed(cols):
        if size() <= budget:
            break
        if "bins" in c:
            del c["bins"]
            complete = False
    while cols and size() > budget:
        cols.pop()
        complete = False
    return cols, complete
