"""Compile a fitted Pipeline (ColumnTransformer + estimator) to ONNX, and prove it on rows before it is recorded.

Why: one row through a scikit-learn Pipeline costs milliseconds (a DataFrame per request, then the
ColumnTransformer); the same graph in onnxruntime costs tens of microseconds, and ONNX is data, not code, so the
server needs no trusted types and no scikit-learn at all.

The float32 trap, and how it is handled. skl2onnx's usual path casts every input to float32 and runs the whole
graph in float32. scikit-learn does not: it imputes and scales in float64, and only its tree estimators cast
their input to float32 (and compare it with float64 thresholds, which skl2onnx re-rounds so that the float32
comparison decides the same way). Scaling in float32 moves values by an ulp, which is enough to send a row
down the other branch of a tree (measured: the iris RandomForest behind a StandardScaler gave probabilities 0.08
apart on 9 of 150 rows). So the graph is built in two parts, each at scikit-learn's own precision:

1. the ColumnTransformer in float64 (numeric inputs are DoubleTensorType; one-hot outputs are cast to float64
   before they are concatenated; SimpleImputer gets a float64 converter, below, because ONNX's Imputer op has
   float32 fill values);
2. the estimator at the precision scikit-learn uses for it: float32 for the tree estimators built on
   ``sklearn.tree`` (with a Cast in between, as scikit-learn casts), float64 for the others, falling back to
   float32 when a converter has no float64 kernel.

Then :func:`check` runs the ONNX model through the same predictor the server uses and compares it with
scikit-learn on the given rows (the holdout): labels must be equal on every row, and probabilities or regression
values within ``TOLERANCE`` (relative to max(1, |value|)). Anything else -- a converter missing, a check that
fails -- is a reason, and the version is served from skops.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from copy import deepcopy
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from herder.serving.onnx_model import MATRIX_INPUT, Feature, OnnxPredictor, matrix_from_frame
from herder.storage.metadata_reader import NUMERIC_DTYPES

log = logging.getLogger("herder.training")

TOLERANCE = 1e-5
"""Largest accepted |onnx - sklearn| / max(1, |sklearn|) for probabilities and regression values."""
TARGET_OPSET = {"": 18, "ai.onnx.ml": 3}
FLOAT32_ESTIMATORS = frozenset({
    "DecisionTreeClassifier", "DecisionTreeRegressor", "RandomForestClassifier", "RandomForestRegressor",
    "ExtraTreesClassifier", "ExtraTreesRegressor", "GradientBoostingClassifier", "GradientBoostingRegressor",
})
"""Estimators that cast their input to float32 inside scikit-learn (``sklearn.tree``'s DTYPE)."""


@dataclass(frozen=True)
class OnnxCheck:
    """How the ONNX model compared with scikit-learn on the check rows."""

    rows: int
    label_mismatches: int
    max_abs_diff: float
    max_rel_diff: float
    tolerance: float
    estimator_precision: str

    @property
    def passed(self) -> bool:
        return self.rows > 0 and self.label_mismatches == 0 and self.max_rel_diff <= self.tolerance

    def wire(self) -> dict[str, Any]:
        """As recorded in metadata.json and the termination message (camelCase, like the API)."""
        raw = asdict(self)
        return {"rows": raw["rows"], "labelMismatches": raw["label_mismatches"], "maxAbsDiff": raw["max_abs_diff"],
                "maxRelDiff": raw["max_rel_diff"], "tolerance": raw["tolerance"],
                "estimatorPrecision": raw["estimator_precision"]}

    def describe(self) -> str:
        return (f"{self.rows} rows: {self.label_mismatches} label mismatches, max |diff| {self.max_abs_diff:.3g} "
                f"(relative {self.max_rel_diff:.3g}, tolerance {self.tolerance:g}), estimator in "
                f"{self.estimator_precision}")


@dataclass(frozen=True)
class OnnxExport:
    """The ONNX bytes and their check, or why there are none."""

    data: bytes | None
    check: OnnxCheck | None
    failure: str | None
    probabilities: bool = False


@functools.cache
def install_converters() -> None:
    """A float64 SimpleImputer converter (numeric: ``Where(IsNaN(x), statistics, x)``; strings: identity).

    ONNX's Imputer op takes float32 fill values, so skl2onnx's converter cannot impute in float64; for string
    columns it refuses ``missing_values=nan``, which is what Herder's imputers use -- and a request cannot carry
    a missing string (the server requires a string), so the identity is exact on everything that is served.
    Registered through skl2onnx's documented ``update_registered_converter``; the float32 and int64 cases go to
    skl2onnx's own converter unchanged.
    """
    from onnx import TensorProto
    from skl2onnx import update_registered_converter
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType
    from skl2onnx.operator_converters.common import concatenate_variables
    from skl2onnx.operator_converters.imputer_op import convert_sklearn_imputer
    from skl2onnx.shape_calculators.imputer import calculate_sklearn_imputer_output_shapes
    from sklearn.impute import SimpleImputer

    def convert(scope: Any, operator: Any, container: Any) -> None:
        kind = type(operator.inputs[0].type)
        if kind not in (DoubleTensorType, StringTensorType):
            convert_sklearn_imputer(scope, operator, container)
            return
        joined = concatenate_variables(scope, operator.inputs, container)
        out = operator.outputs[0].full_name
        if kind is StringTensorType:
            container.add_node("Identity", [joined], [out], name=scope.get_unique_operator_name("Identity"))
            return
        stats = scope.get_unique_variable_name("statistics")
        stat_values = np.asarray(operator.raw_operator.statistics_, dtype=np.float64)
        container.add_initializer(stats, TensorProto.DOUBLE, [1, stat_values.size], stat_values.tolist())
        missing = scope.get_unique_variable_name("missing")
        container.add_node("IsNaN", [joined], [missing], name=scope.get_unique_operator_name("IsNaN"))
        container.add_node("Where", [missing, stats, joined], [out], name=scope.get_unique_operator_name("Where"))

    update_registered_converter(SimpleImputer, "SklearnSimpleImputer", calculate_sklearn_imputer_output_shapes,
                                convert)


def _input_types(features: Sequence[Feature]) -> list[tuple[str, Any]]:
    from skl2onnx.common.data_types import BooleanTensorType, DoubleTensorType, StringTensorType

    types: list[tuple[str, Any]] = []
    for feature in features:
        if feature.dtype == "bool":
            types.append((feature.name, BooleanTensorType([None, 1])))
        elif feature.dtype == "string":
            types.append((feature.name, StringTensorType([None, 1])))
        else:
            types.append((feature.name, DoubleTensorType([None, 1])))
    return types


def _as_double_concats(model: Any) -> None:
    """Cast float32 inputs of a Concat that mixes float32 and float64 (one-hot outputs are float32)."""
    import onnx
    from onnx import TensorProto, helper

    inferred = onnx.shape_inference.infer_shapes(model)
    values = [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    types = {v.name: v.type.tensor_type.elem_type for v in values}
    nodes = []
    for node in model.graph.node:
        if node.op_type == "Concat" and TensorProto.DOUBLE in {types.get(i) for i in node.input}:
            for j, name in enumerate(list(node.input)):
                if types.get(name) != TensorProto.DOUBLE:
                    cast = f"{name}_as_double"
                    nodes.append(helper.make_node("Cast", [name], [cast], to=TensorProto.DOUBLE, name=cast))
                    node.input[j] = cast
        nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)


def _by_position(transformer: Any, features: Sequence[Feature]) -> Any:
    """A copy of the fitted ColumnTransformer selecting columns by position, so skl2onnx reads one matrix."""
    index = {f.name: i for i, f in enumerate(features)}
    copy = deepcopy(transformer)
    copy.transformers_ = [(name, step, cols if isinstance(step, str) and step == "drop" else [index[c] for c in cols])
                          for name, step, cols in transformer.transformers_]
    if hasattr(copy, "feature_names_in_"):
        del copy.feature_names_in_
    return copy


def _transformer_graph(transformer: Any, features: Sequence[Feature]) -> Any:
    """The ColumnTransformer as a graph with float64 output named ``features``.

    When every feature is numeric the graph takes one ``[N, k]`` float64 input (``matrix``) instead of k
    columns: the server hands it the validated request matrix as is (measured on the iris Pipeline: 10 us per
    call instead of 18 us, and no per-column copies).
    """
    from onnx import TensorProto, helper
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType

    if all(f.dtype in NUMERIC_DTYPES for f in features):
        graph = to_onnx(_by_position(transformer, features),
                        initial_types=[(MATRIX_INPUT, DoubleTensorType([None, len(features)]))],
                        target_opset=TARGET_OPSET)
    else:
        graph = to_onnx(transformer, initial_types=_input_types(features), target_opset=TARGET_OPSET)
    _as_double_concats(graph)
    out = graph.graph.output[0]
    if out.type.tensor_type.elem_type != TensorProto.DOUBLE:
        graph.graph.node.append(helper.make_node("Cast", [out.name], ["features"], to=TensorProto.DOUBLE))
    else:
        graph.graph.node.append(helper.make_node("Identity", [out.name], ["features"]))
    width = out.type.tensor_type.shape.dim[1].dim_value or None
    del graph.graph.output[:]
    graph.graph.output.append(helper.make_tensor_value_info("features", TensorProto.DOUBLE, [None, width]))
    return graph


def _estimator_graph(estimator: Any, width: int, precision: str) -> Any:
    """The estimator alone, reading a ``features`` input of *precision*, probabilities as a plain tensor."""
    from onnx import TensorProto, helper
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    kind = DoubleTensorType if precision == "float64" else FloatTensorType
    options = {id(estimator): {"zipmap": False}} if hasattr(estimator, "predict_proba") else None
    graph = to_onnx(estimator, initial_types=[("estimator_input", kind([None, width]))], options=options,
                    target_opset=TARGET_OPSET)
    if precision == "float32":  # cast as scikit-learn does before its trees compare
        graph.graph.node.insert(0, helper.make_node("Cast", ["features"], ["estimator_input"], to=TensorProto.FLOAT))
    else:
        graph.graph.node.insert(0, helper.make_node("Identity", ["features"], ["estimator_input"]))
    del graph.graph.input[:]
    graph.graph.input.append(helper.make_tensor_value_info("features", TensorProto.DOUBLE, [None, width]))
    return graph


def _same_opsets(*models: Any) -> None:
    """Give every part the newest opset any part imports per domain (merge_models needs them equal).

    The converters of one skl2onnx call may pick lower versions for some domains than others; every operator
    they emit keeps its meaning in the newer opset, and onnxruntime's load of the merged model checks that.
    """
    from onnx import helper

    newest: dict[str, int] = {}
    for model in models:
        for entry in model.opset_import:
            newest[entry.domain] = max(newest.get(entry.domain, 0), entry.version)
    for model in models:
        del model.opset_import[:]
        model.opset_import.extend(helper.make_opsetid(domain, version) for domain, version in sorted(newest.items()))


def servable(frame: pd.DataFrame, features: Sequence[Feature]) -> pd.DataFrame:
    """The rows a server can receive: requests carry no missing strings or booleans (numbers may be NaN here:
    the graph imputes them like scikit-learn)."""
    text = [f.name for f in features if f.dtype in ("string", "bool")]
    return frame if not text else frame[frame[text].notna().all(axis=1)]


def convert(pipeline: Any, features: Sequence[Feature], precision: str) -> bytes:
    """The Pipeline as ONNX bytes, its estimator at *precision* ("float64" or "float32")."""
    import onnx
    from onnx import compose

    from herder.training import skl2onnx_fixes

    install_converters()
    skl2onnx_fixes.install()
    transformer = pipeline.named_steps["features"]
    estimator = pipeline.named_steps["estimator"]
    head = _transformer_graph(transformer, features)
    width = len(transformer.get_feature_names_out())
    tail = compose.add_prefix(_estimator_graph(estimator, width, precision), "estimator_", rename_inputs=False)
    _same_opsets(head, tail)
    merged = compose.merge_models(head, tail, io_map=[("features", "features")])
    _same_opsets(merged)  # merge_models lists each domain once per part
    onnx.checker.check_model(merged)
    merged.producer_name = "herder"
    merged.doc_string = f"{type(estimator).__name__} pipeline, estimator in {precision}"
    return bytes(merged.SerializeToString())


def _compare(expected: np.ndarray, got: np.ndarray) -> tuple[float, float]:
    exp = np.asarray(expected, dtype=np.float64)
    diff = np.abs(np.asarray(got, dtype=np.float64) - exp)
    if diff.size == 0:
        return 0.0, 0.0
    if not np.isfinite(diff).all():
        return float("inf"), float("inf")
    return float(diff.max()), float((diff / np.maximum(1.0, np.abs(exp))).max())


def check(data: bytes, pipeline: Any, features: Sequence[Feature], frame: pd.DataFrame, *, precision: str,
          task: str) -> OnnxCheck:
    """Predict *frame* with the ONNX bytes (through the server's predictor) and with scikit-learn; compare."""
    classes = [c.item() if hasattr(c, "item") else c for c in pipeline.classes_] if task == "classification" else None
    proba = task == "classification" and hasattr(pipeline, "predict_proba")
    predictor = OnnxPredictor(data, features, task, classes, probabilities=proba)
    labels, probabilities = predictor.predict(matrix_from_frame(frame, features), proba)
    expected = np.asarray(pipeline.predict(frame))
    if task == "classification":
        mismatches = int(sum(str(a) != str(b) for a, b in zip(labels.tolist(), expected.tolist(), strict=True)))
        abs_diff, rel_diff = (_compare(pipeline.predict_proba(frame), probabilities)
                              if proba and probabilities is not None else (0.0, 0.0))
    else:
        mismatches = 0
        abs_diff, rel_diff = _compare(expected, labels)
    return OnnxCheck(rows=len(frame), label_mismatches=mismatches, max_abs_diff=abs_diff, max_rel_diff=rel_diff,
                     tolerance=TOLERANCE, estimator_precision=precision)


def _precisions(estimator: Any) -> tuple[str, ...]:
    return ("float32",) if type(estimator).__name__ in FLOAT32_ESTIMATORS else ("float64", "float32")


def export_onnx(pipeline: Any, features: Sequence[Feature], task: str, frame: pd.DataFrame) -> OnnxExport:
    """Convert and check; never raises for a model that cannot be compiled (the reason is returned instead).

    Precisions are tried in order (float64 first where scikit-learn computes in float64); the first whose
    check passes wins. The reason names every attempt, so a user sees what failed and by how much.
    """
    estimator = pipeline.named_steps["estimator"]
    name = type(estimator).__name__
    frame = servable(frame, features)
    proba = task == "classification" and hasattr(pipeline, "predict_proba")
    reasons: list[str] = []
    for precision in _precisions(estimator):
        try:
            data = convert(pipeline, features, precision)
        except Exception as exc:
            reasons.append(f"{precision}: skl2onnx cannot convert it ({type(exc).__name__}: {_first_line(exc)})")
            continue
        try:
            result = check(data, pipeline, features, frame, precision=precision, task=task)
        except Exception as exc:
            reasons.append(f"{precision}: onnxruntime cannot run it ({type(exc).__name__}: {_first_line(exc)})")
            continue
        if result.passed:
            return OnnxExport(data=data, check=result, failure=None, probabilities=proba)
        reasons.append(f"{precision}: differs from scikit-learn on {result.describe()}")
    return OnnxExport(data=None, check=None, failure=f"{name} pipeline not compiled: " + "; ".join(reasons))


def _first_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text if len(text) <= limit else text[: limit - 3] + "..."
