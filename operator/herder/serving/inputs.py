"""Turn decoded request bodies into a validated feature matrix, or a BadRequestError naming the problem.

Pure functions, no I/O. Rows arrive as arrays (in feature order) or objects keyed by feature name (V1), or as
V2 tensors (one positional [N, F] tensor, or one named [N] tensor per feature). Every value is checked against
the feature's dtype *before* numpy sees it, because numpy would quietly turn "1.5" or true into numbers.

The result is a float64 matrix when every feature is numeric (the fast path), else an object matrix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from herder.serving.errors import BadRequestError
from herder.serving.signature import Signature
from herder.storage.metadata_reader import NUMERIC_DTYPES

MAX_ROWS = 100_000
_NUMBER_TYPES = (int, float)


def json_type(value: Any) -> str:
    """The JSON name of a decoded value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_value(value: Any, dtype: str, where: str) -> Any:
    """Validate one value for a feature dtype; return it in canonical Python form."""
    if dtype in NUMERIC_DTYPES:
        if type(value) is bool or not isinstance(value, _NUMBER_TYPES):
            raise BadRequestError(f"{where}: expected a number, got {json_type(value)} {_short(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise BadRequestError(f"{where}: value is not finite ({value})")
        if dtype.startswith("int"):
            if isinstance(value, float) and not value.is_integer():
                raise BadRequestError(f"{where}: expected an integer, got {value}")
            return int(value)
        return float(value)
    if dtype == "bool":
        if type(value) is not bool:
            raise BadRequestError(f"{where}: expected a boolean, got {json_type(value)} {_short(value)}")
        return value
    if not isinstance(value, str):
        raise BadRequestError(f"{where}: expected a string, got {json_type(value)} {_short(value)}")
    return value


def _check_rows_shape(rows: Any, width: int, where: str) -> list[Any]:
    if not isinstance(rows, list):
        raise BadRequestError(f"{where}: expected a list of rows, got {json_type(rows)}")
    if not rows:
        raise BadRequestError(f"{where}: is empty; send at least one row")
    if len(rows) > MAX_ROWS:
        raise BadRequestError(f"{where}: {len(rows)} rows is more than the limit of {MAX_ROWS}")
    return rows


def objects_to_rows(objects: list[Any], sig: Signature, where: str) -> list[list[Any]]:
    """Rows given as {feature: value} objects -> lists in feature order; missing/extra features named."""
    names = sig.names
    wanted = set(names)
    rows: list[list[Any]] = []
    for i, obj in enumerate(objects):
        if not isinstance(obj, dict):
            raise BadRequestError(f"{where}[{i}]: expected an object keyed by feature name, got {json_type(obj)}")
        if obj.keys() != wanted:
            missing = [n for n in names if n not in obj]
            extra = sorted(k for k in obj if k not in wanted)
            parts = []
            if missing:
                parts.append("missing features: " + ", ".join(missing))
            if extra:
                parts.append("unknown features: " + ", ".join(extra))
            raise BadRequestError(f"{where}[{i}]: " + "; ".join(parts))
        rows.append([obj[n] for n in names])
    return rows


def rows_to_matrix(rows: list[Any], sig: Signature, where: str) -> np.ndarray:
    """Validate array rows (feature order) and build the feature matrix."""
    width = len(sig.features)
    for i, row in enumerate(rows):
        if type(row) is not list:
            raise BadRequestError(f"{where}[{i}]: expected an array of {width} values, got {json_type(row)}")
        if len(row) != width:
            raise BadRequestError(f"{where}[{i}]: expected {width} values (one per feature), got {len(row)}")
    if sig.all_numeric:
        # Fast path: one pass over the types; only on a miss do we look for the culprit to name it.
        kinds = {type(v) for row in rows for v in row}
        if kinds <= {int, float}:
            matrix = np.array(rows, dtype=np.float64)
            if kinds != {int} and not np.isfinite(matrix).all():
                r, c = np.argwhere(~np.isfinite(matrix))[0]
                raise BadRequestError(f"{where}[{r}] feature {sig.features[c].name!r}: value is not finite")
            if float in kinds:
                _check_integer_columns(matrix, sig, where)
            return matrix
    checked = [
        [check_value(v, f.dtype, f"{where}[{i}] feature {f.name!r}") for v, f in zip(row, sig.features, strict=True)]
        for i, row in enumerate(rows)
    ]
    if sig.all_numeric:
        return np.array(checked, dtype=np.float64)
    matrix = np.empty((len(checked), width), dtype=object)
    matrix[:] = checked
    return matrix


def _check_integer_columns(matrix: np.ndarray, sig: Signature, where: str) -> None:
    for c, feature in enumerate(sig.features):
        if feature.dtype.startswith("int"):
            column = matrix[:, c]
            bad = np.flatnonzero(column != np.floor(column))
            if bad.size:
                raise BadRequestError(
                    f"{where}[{bad[0]}] feature {feature.name!r}: expected an integer, got {column[bad[0]]}"
                )


def v1_instances_to_matrix(body: Any, sig: Signature) -> np.ndarray:
    """V1 ``{"instances": [...]}`` -> matrix. Rows are all arrays or all objects."""
    if not isinstance(body, dict):
        raise BadRequestError(f"request body: expected a JSON object with 'instances', got {json_type(body)}")
    if "instances" not in body:
        if "inputs" in body:
            raise BadRequestError("request body: V1 expects 'instances' (did you mean the V2 /infer endpoint?)")
        raise BadRequestError("request body: missing 'instances'")
    rows = _check_rows_shape(body["instances"], len(sig.features), "instances")
    if isinstance(rows[0], dict):
        rows = objects_to_rows(rows, sig, "instances")
    return rows_to_matrix(rows, sig, "instances")


# --- V2 (Open Inference Protocol) tensors -------------------------------------------------------------------

V2_NUMERIC = {
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
}
V2_DATATYPES = frozenset({*V2_NUMERIC, "BOOL", "BYTES"})


def flatten(data: Any, shape: tuple[int, ...], where: str) -> list[Any]:
    """Row-major values of ``data``, which V2 allows flat or nested; nesting must follow ``shape`` exactly."""
    if not isinstance(data, list):
        raise BadRequestError(f"{where}: 'data' must be an array, got {json_type(data)}")
    if not data or type(data[0]) is not list:
        return data  # flat; a nested array further on is caught by the value type check
    out: list[Any] = []
    mismatch = f"{where}: nested 'data' does not match shape {list(shape)}"

    def walk(node: Any, depth: int) -> None:
        if not isinstance(node, list) or depth >= len(shape) or len(node) != shape[depth]:
            raise BadRequestError(mismatch)
        if depth == len(shape) - 1:
            out.extend(node)
        else:
            for child in node:
                walk(child, depth + 1)

    walk(data, 0)
    return out


def check_v2_values(values: list[Any], datatype: str, where: str) -> None:
    """Every value must be representable in the declared V2 datatype."""
    if datatype == "BOOL":
        bad = next((v for v in values if type(v) is not bool), _MISSING)
        expected = "a boolean"
    elif datatype == "BYTES":
        bad = next((v for v in values if not isinstance(v, str)), _MISSING)
        expected = "a string"
    elif datatype.startswith("FP"):
        kinds = {type(v) for v in values}
        bad = _MISSING if kinds <= {int, float} else next(v for v in values if type(v) not in (int, float))
        expected = "a number"
    else:
        kinds = {type(v) for v in values}
        bad = _MISSING if kinds <= {int} else next(v for v in values if type(v) is not int)
        expected = "an integer"
        if bad is _MISSING and values:
            info = np.iinfo(V2_NUMERIC[datatype])  # type: ignore[type-var]
            out_of_range = next((v for v in values if not info.min <= v <= info.max), _MISSING)
            if out_of_range is not _MISSING:
                raise BadRequestError(f"{where}: value {out_of_range} does not fit {datatype}")
    if bad is not _MISSING:
        raise BadRequestError(f"{where}: datatype {datatype} needs {expected}, got {json_type(bad)} {_short(bad)}")


_MISSING: Any = object()


def _shape(raw: Any, where: str) -> tuple[int, ...]:
    if not isinstance(raw, list) or not raw:
        raise BadRequestError(f"{where}: 'shape' must be a non-empty array of integers")
    if any(type(d) is not int or d < 0 for d in raw):
        raise BadRequestError(f"{where}: 'shape' must contain non-negative integers, got {_short(raw)}")
    if len(raw) > 8:
        raise BadRequestError(f"{where}: 'shape' has too many dimensions ({len(raw)})")
    return tuple(raw)


class Tensor:
    """A decoded V2 input: name, shape, datatype and its flat values (list, or ndarray for binary data)."""

    __slots__ = ("datatype", "name", "shape", "values")

    def __init__(self, name: str, shape: tuple[int, ...], datatype: str, values: Sequence[Any] | np.ndarray):
        self.name = name
        self.shape = shape
        self.datatype = datatype
        self.values = values


def parse_v2_input(raw: Any, position: int, binary: bytes | None) -> tuple[Tensor, int]:
    """Validate one entry of ``inputs``; returns the tensor and how many binary bytes it consumed."""
    where = f"inputs[{position}]"
    if not isinstance(raw, dict):
        raise BadRequestError(f"{where}: expected an object, got {json_type(raw)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise BadRequestError(f"{where}: 'name' must be a non-empty string")
    where = f"input {name!r}"
    datatype = raw.get("datatype")
    if datatype not in V2_DATATYPES:
        raise BadRequestError(f"{where}: unknown datatype {_short(datatype)}; expected one of {sorted(V2_DATATYPES)}")
    shape = _shape(raw.get("shape"), where)
    count = math.prod(shape)
    if count > MAX_ROWS * 1000:
        raise BadRequestError(f"{where}: shape {list(shape)} is too large")
    params = raw.get("parameters") or {}
    if not isinstance(params, dict):
        raise BadRequestError(f"{where}: 'parameters' must be an object")
    size = params.get("binary_data_size")
    if size is not None:
        return _binary_tensor(name, shape, datatype, size=size, count=count, binary=binary, where=where)
    if "data" not in raw:
        raise BadRequestError(f"{where}: missing 'data'")
    values = flatten(raw["data"], shape, where)
    if len(values) != count:
        raise BadRequestError(f"{where}: shape {list(shape)} needs {count} values, 'data' has {len(values)}")
    check_v2_values(values, datatype, where)
    return Tensor(name, shape, datatype, values), 0


def _binary_tensor(
    name: str,
    shape: tuple[int, ...],
    datatype: str,
    *,
    size: Any,
    count: int,
    binary: bytes | None,
    where: str,
) -> tuple[Tensor, int]:
    if type(size) is not int or size < 0:
        raise BadRequestError(f"{where}: 'binary_data_size' must be a non-negative integer")
    if binary is None or size > len(binary):
        raise BadRequestError(f"{where}: binary_data_size {size} exceeds the binary data sent")
    chunk = binary[:size]
    if datatype == "BYTES":
        strings: list[Any] = []
        offset = 0
        while offset < len(chunk):
            if offset + 4 > len(chunk):
                raise BadRequestError(f"{where}: truncated BYTES element")
            length = int.from_bytes(chunk[offset : offset + 4], "little")
            offset += 4
            if offset + length > len(chunk):
                raise BadRequestError(f"{where}: truncated BYTES element")
            try:
                strings.append(chunk[offset : offset + length].decode())
            except UnicodeDecodeError as exc:
                raise BadRequestError(f"{where}: BYTES element is not UTF-8") from exc
            offset += length
        values: Sequence[Any] | np.ndarray = strings
    else:
        dtype = np.dtype(np.bool_) if datatype == "BOOL" else np.dtype(V2_NUMERIC[datatype]).newbyteorder("<")
        if size != count * dtype.itemsize:
            raise BadRequestError(f"{where}: shape {list(shape)} of {datatype} needs {count * dtype.itemsize} bytes")
        values = np.frombuffer(chunk, dtype=dtype)
    if len(values) != count:
        raise BadRequestError(f"{where}: shape {list(shape)} needs {count} values, binary data has {len(values)}")
    return Tensor(name, shape, datatype, values), size


def _dtype_accepts(feature_dtype: str, datatype: str) -> bool:
    if feature_dtype in NUMERIC_DTYPES:
        if feature_dtype.startswith("int"):
            return datatype.startswith(("INT", "UINT", "FP"))
        return datatype in V2_NUMERIC
    if feature_dtype == "bool":
        return datatype == "BOOL"
    return datatype == "BYTES"


def tensors_to_matrix(tensors: list[Tensor], sig: Signature) -> np.ndarray:
    """Positional ([N, F] single tensor) or named (one [N] tensor per feature) inputs -> matrix."""
    index = sig.index
    width = len(sig.features)
    named = [t for t in tensors if t.name in index]
    if len(tensors) == 1 and not named:
        tensor = tensors[0]
        where = f"input {tensor.name!r}"
        if len(tensor.shape) != 2 or tensor.shape[1] != width:
            raise BadRequestError(
                f"{where}: positional input must have shape [N, {width}] (one column per feature), "
                f"got {list(tensor.shape)}"
            )
        if tensor.shape[0] == 0:
            raise BadRequestError(f"{where}: has no rows")
        for feature in sig.features:
            if not _dtype_accepts(feature.dtype, tensor.datatype):
                raise BadRequestError(
                    f"{where}: datatype {tensor.datatype} does not fit feature {feature.name!r} ({feature.dtype})"
                )
        return _values_to_matrix(tensor, sig, where)
    unknown = [t.name for t in tensors if t.name not in index]
    if unknown:
        raise BadRequestError(
            "unknown inputs: " + ", ".join(unknown) + f" (expected one input per feature: {', '.join(sig.names)},"
            f" or a single [N, {width}] input)"
        )
    seen = [t.name for t in tensors]
    duplicated = sorted({n for n in seen if seen.count(n) > 1})
    if duplicated:
        raise BadRequestError("duplicate inputs: " + ", ".join(duplicated))
    missing = [n for n in sig.names if n not in seen]
    if missing:
        raise BadRequestError("missing inputs for features: " + ", ".join(missing))
    rows = None
    columns: list[Any] = [None] * width
    for tensor in tensors:
        where = f"input {tensor.name!r}"
        if not (len(tensor.shape) == 1 or (len(tensor.shape) == 2 and tensor.shape[1] == 1)):
            raise BadRequestError(f"{where}: a named input must have shape [N] or [N, 1], got {list(tensor.shape)}")
        if rows is None:
            rows = tensor.shape[0]
        elif tensor.shape[0] != rows:
            raise BadRequestError(f"{where}: has {tensor.shape[0]} rows but other inputs have {rows}")
        feature = sig.features[index[tensor.name]]
        if not _dtype_accepts(feature.dtype, tensor.datatype):
            raise BadRequestError(f"{where}: datatype {tensor.datatype} does not fit feature dtype {feature.dtype}")
        columns[index[tensor.name]] = tensor.values
    if not rows:
        raise BadRequestError("inputs have no rows")
    if sig.all_numeric:
        matrix = np.empty((rows, width), dtype=np.float64)
        for c, column in enumerate(columns):
            matrix[:, c] = np.asarray(column, dtype=np.float64)
        _check_finite(matrix, sig, "inputs")
        _check_integer_columns(matrix, sig, "inputs")
        return matrix
    row_lists = [list(r) for r in zip(*(_as_list(c) for c in columns), strict=True)]
    return rows_to_matrix(row_lists, sig, "inputs")


def _as_list(values: Sequence[Any] | np.ndarray) -> list[Any]:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def _check_finite(matrix: np.ndarray, sig: Signature, where: str) -> None:
    finite = np.isfinite(matrix)
    if not finite.all():
        r, c = np.argwhere(~finite)[0]
        raise BadRequestError(f"{where}[{r}] feature {sig.features[c].name!r}: value is not finite")


def _values_to_matrix(tensor: Tensor, sig: Signature, where: str) -> np.ndarray:
    rows, width = tensor.shape
    if sig.all_numeric:
        matrix = np.asarray(tensor.values, dtype=np.float64).reshape(rows, width)
        _check_finite(matrix, sig, where)
        _check_integer_columns(matrix, sig, where)
        return matrix
    flat = _as_list(tensor.values)
    return rows_to_matrix([flat[r * width : (r + 1) * width] for r in range(rows)], sig, where)
