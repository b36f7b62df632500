"""Pure pieces: parameter parsing, the allowlist and its trusted types, reproducible skops bytes, messages."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import is_classifier
from sklearn.datasets import load_iris

from herder.training.artifacts import canonical_zip, dump_model, required_trusted_types
from herder.training.checks import percent, summarise
from herder.training.errors import SpecError
from herder.training.estimators import ESTIMATOR_ALLOWLIST, build_estimator, estimator_class, parse_param
from herder.training.outputs import truncate
from herder.training.requests import TrainRequest
from herder.training.results import Problem

from .conftest import IRIS, iris_request


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [("0.5", 0.5), ("1e-3", 0.001), ("10", 10), ("-2", -2), ("none", None), ("lbfgs", "lbfgs"), (3, 3), (True, True)],
)
def test_parse_param(raw: object, parsed: object) -> None:
    value = parse_param(raw)  # type: ignore[arg-type]
    assert value == parsed and type(value) is type(parsed)


def test_allowlisted_estimators_all_import_and_their_artifacts_need_only_trusted_types() -> None:
    x, y = load_iris(return_X_y=True)
    warnings.simplefilter("ignore")
    for name in ESTIMATOR_ALLOWLIST:
        cls = estimator_class(name)
        task = "classification" if is_classifier(cls()) else "regression"
        params = {"n_estimators": 3} if "n_estimators" in cls().get_params() else {}
        if "max_iter" in cls().get_params() and "HistGradient" in name:
            params = {"max_iter": 3}
        estimator, _ = build_estimator(name, params, task, seed=0)
        estimator.fit(x, y if task == "classification" else x[:, 0])
        required_trusted_types(dump_model(estimator))  # raises if outside TRUSTED_TYPES


def test_seed_becomes_random_state_unless_given() -> None:
    seeded, params = build_estimator("sklearn.ensemble.RandomForestClassifier", {}, "classification", 7)
    assert seeded.random_state == 7 and params == {"random_state": 7}
    given, _ = build_estimator("sklearn.ensemble.RandomForestClassifier", {"random_state": 3}, "classification", 7)
    assert given.random_state == 3


def test_allowlist_refuses_dotted_paths_outside_it() -> None:
    with pytest.raises(SpecError, match="not in the allowlist"):
        estimator_class("sklearn.utils.Bunch")


def test_skops_bytes_are_reproducible_and_still_load() -> None:
    x, y = load_iris(return_X_y=True)
    model, _ = build_estimator("sklearn.ensemble.RandomForestClassifier", {"n_estimators": 3}, "classification", 0)
    model.fit(x, y)
    first, second = dump_model(model), dump_model(model)
    assert first == second
    assert sio.dumps(model) != sio.dumps(model)  # why canonical_zip exists: ids and timestamps differ
    loaded = sio.loads(first, trusted=["sklearn.tree._tree.Tree"])
    assert np.array_equal(loaded.predict(x), model.predict(x))
    assert canonical_zip(first) == first


def test_percent_and_summaries() -> None:
    assert percent(0.031) == "3.1%" and percent(0.01) == "1%" and percent(1 / 3) == "33.33%"
    problems = [Problem(column=f"c{i}", problem="nulls", message=f"column 'c{i}': " + "x" * 100) for i in range(60)]
    text = summarise(problems)
    assert len(text) <= 2800 and text.endswith("(60 problems in all)")
    assert len(truncate("é" * 5000).encode()) <= 3 * 1024


def test_request_uses_camel_case_and_forbids_unknown_fields(tmp_path: object) -> None:
    request = TrainRequest.model_validate(iris_request(IRIS, IRIS.parent / "unused"))
    dumped = request.model_dump(by_alias=True, exclude_none=True)
    assert {"modelName", "outputDir", "schema"} <= set(dumped)
    assert dumped["dataset"]["expectedDigest"] == request.dataset.expected_digest
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        TrainRequest.model_validate({**iris_request(IRIS, IRIS.parent / "unused"), "model_name2": "x"})


def test_the_crd_enum_and_the_trainer_allowlist_name_the_same_classes() -> None:
    """A class admitted by the CRD but unknown to the trainer would only fail inside the pod."""
    from herder.api.training import ESTIMATORS

    assert {f"{module}.{name}" for name, (module, _) in ESTIMATORS.items()} == set(ESTIMATOR_ALLOWLIST)
