"""Bad input is exit 2 with a message naming the problem; an unexpected crash is exit 1 with its type."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from herder.training.estimators import ESTIMATOR_ALLOWLIST

from .conftest import IRIS, Runner, iris_request, sha256


def _rewrite(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, count))


def test_nulls_over_the_limit(train: Runner, iris_copy: Path, tmp_path: Path) -> None:
    lines = iris_copy.read_text().splitlines()
    for i in range(1, 6):  # blank sepal_width in 5 of 150 rows (3.33%)
        cells = lines[i].split(",")
        cells[1] = ""
        lines[i] = ",".join(cells)
    iris_copy.write_text("\n".join(lines) + "\n")
    schema = iris_request(iris_copy, tmp_path)["schema"]
    schema["columns"][1] = {**schema["columns"][1], "nullable": True}
    outcome = train(iris_request(iris_copy, tmp_path / "out", schema=schema, validation={"maxNullFraction": "0.01"}))
    assert outcome.code == 2
    assert outcome.message == "column 'sepal_width': 5 nulls (3.33%) > maxNullFraction 1%"
    assert not (tmp_path / "out").exists()


def test_nulls_in_a_non_nullable_column(train: Runner, iris_copy: Path, tmp_path: Path) -> None:
    _rewrite(iris_copy, "5.1,3.5,1.4,0.2", "5.1,,1.4,0.2")
    outcome = train(iris_request(iris_copy, tmp_path / "out"))
    assert outcome.code == 2
    assert "column 'sepal_width': 1 nulls (0.67%) but the column is not nullable" in outcome.message


def test_values_out_of_range(train: Runner, iris_copy: Path, tmp_path: Path) -> None:
    _rewrite(iris_copy, "5.1,3.5,1.4,0.2", "51,3.5,1.4,0.2")
    outcome = train(iris_request(iris_copy, tmp_path / "out"))
    assert outcome.code == 2
    assert outcome.message == "column 'sepal_length': 1 values above max 10 (largest 51)"


def test_unknown_category(train: Runner, iris_copy: Path, tmp_path: Path) -> None:
    _rewrite(iris_copy, "5.1,3.5,1.4,0.2,setosa", "5.1,3.5,1.4,0.2,setosaa")
    outcome = train(iris_request(iris_copy, tmp_path / "out"))
    assert outcome.code == 2
    assert "column 'species': 1 values not in categories" in outcome.message
    assert "'setosaa'" in outcome.message


def test_missing_column(train: Runner, iris_copy: Path, tmp_path: Path) -> None:
    _rewrite(iris_copy, "petal_width", "petal_w")
    outcome = train(iris_request(iris_copy, tmp_path / "out"))
    assert outcome.code == 2
    assert outcome.message.startswith("column 'petal_width' is declared but not in the data")


def test_not_a_number(train: Runner, iris_copy: Path, tmp_path: Path) -> None:
    _rewrite(iris_copy, "5.1,3.5,1.4,0.2", "5.1,abc,1.4,0.2")
    outcome = train(iris_request(iris_copy, tmp_path / "out"))
    assert outcome.code == 2
    assert "column 'sepal_width': 1 values are not numbers (e.g. 'abc')" in outcome.message


def test_pinned_digest_mismatch_shows_both_digests(train: Runner, iris_copy: Path, tmp_path: Path) -> None:
    request = iris_request(iris_copy, tmp_path / "out")
    pinned = request["dataset"]["expectedDigest"]
    with iris_copy.open("a") as handle:
        handle.write("5.0,3.0,1.5,0.2,setosa\n")
    outcome = train(request)
    assert outcome.code == 2
    assert pinned in outcome.message and sha256(iris_copy) in outcome.message
    assert "pinned digest" in outcome.message


def test_estimator_not_in_the_allowlist_lists_the_allowed_ones(train: Runner, tmp_path: Path) -> None:
    request = iris_request(IRIS, tmp_path / "out", estimator={"className": "os.system", "params": {}})
    outcome = train(request)
    assert outcome.code == 2
    assert outcome.message.startswith("estimator 'os.system' is not in the allowlist; allowed: ")
    for name in ESTIMATOR_ALLOWLIST:
        assert name in outcome.message


def test_a_parameter_scikit_learn_rejects_is_named(train: Runner, tmp_path: Path) -> None:
    request = iris_request(
        IRIS,
        tmp_path / "out",
        estimator={"className": "sklearn.linear_model.LogisticRegression", "params": {"C": "-1"}},
    )
    outcome = train(request)
    assert outcome.code == 2
    assert outcome.message.startswith("estimator.params.C=-1 rejected by scikit-learn: ")
    assert "The 'C' parameter of LogisticRegression must be" in outcome.message


def test_an_unknown_parameter_is_named_with_the_valid_ones(train: Runner, tmp_path: Path) -> None:
    request = iris_request(
        IRIS, tmp_path / "out", estimator={"className": "sklearn.svm.SVC", "params": {"kernal": "rbf"}}
    )
    outcome = train(request)
    assert outcome.code == 2
    assert outcome.message.startswith("estimator.params.kernal: SVC has no parameter 'kernal' (valid: C, ")


def test_a_parameter_combination_rejected_at_fit_time(train: Runner, tmp_path: Path) -> None:
    request = iris_request(
        IRIS,
        tmp_path / "out",
        estimator={
            "className": "sklearn.linear_model.LogisticRegression",
            "params": {"solver": "lbfgs", "l1_ratio": "1.0"},
        },
    )
    outcome = train(request)
    assert outcome.code == 2
    assert outcome.message.startswith("fitting LogisticRegression with ")
    assert "Solver lbfgs supports only" in outcome.message


def test_a_feature_group_naming_an_unknown_column(train: Runner, tmp_path: Path) -> None:
    features = [{"name": "dims", "columns": ["sepal_length", "sepal_height"], "transforms": {"passthrough": True}}]
    outcome = train(iris_request(IRIS, tmp_path / "out", features=features))
    assert outcome.code == 2
    assert outcome.message.startswith(
        "feature group 'dims': column 'sepal_height' is not in the dataset schema (columns: sepal_length, "
    )


@pytest.mark.parametrize(
    ("transforms", "expected"),
    [
        ({"scale": {}}, "feature group 'g': scale needs numeric columns, but column 'species' is category"),
        ({"bucketize": {"bins": 3}}, "feature group 'g': bucketize needs numeric columns, but column 'species'"),
        ({"impute": {"strategy": "mean"}, "oneHot": {}}, "impute strategy 'mean' needs numeric columns"),
    ],
)
def test_a_transform_that_does_not_fit_the_column_type(
    train: Runner, tmp_path: Path, transforms: dict[str, object], expected: str
) -> None:
    schema = iris_request(IRIS, tmp_path)["schema"]
    schema = {**schema, "columns": [*schema["columns"], {"name": "label", "type": "int"}], "target": "label"}
    features = [{"name": "g", "columns": ["species"], "transforms": transforms}]
    data = tmp_path / "iris-label.csv"
    lines = IRIS.read_text().splitlines()
    data.write_text("\n".join([lines[0] + ",label"] + [f"{line},{i % 2}" for i, line in enumerate(lines[1:])]) + "\n")
    outcome = train(iris_request(data, tmp_path / "out", schema=schema, features=features))
    assert outcome.code == 2
    assert expected in outcome.message


def test_the_target_cannot_be_a_feature(train: Runner, tmp_path: Path) -> None:
    features = [{"name": "leak", "columns": ["species"], "transforms": {"oneHot": {}}}]
    outcome = train(iris_request(IRIS, tmp_path / "out", features=features))
    assert outcome.code == 2
    assert outcome.message == "feature group 'leak': column 'species' is the target; it cannot be a feature"


def test_an_unreadable_uri(train: Runner, tmp_path: Path) -> None:
    request = iris_request(IRIS, tmp_path / "out")
    request["dataset"]["uri"] = str(tmp_path / "nope.csv")
    outcome = train(request)
    assert outcome.code == 2
    assert outcome.message == f"cannot read dataset: not found: {tmp_path / 'nope.csv'}"


def test_an_unsupported_uri_scheme(train: Runner, tmp_path: Path) -> None:
    request = iris_request(IRIS, tmp_path / "out")
    request["dataset"]["uri"] = "ftp://example.invalid/iris.csv"
    outcome = train(request)
    assert outcome.code == 2
    assert outcome.message.startswith("cannot read dataset: unsupported URI scheme 'ftp'")


def test_an_invalid_request_names_the_field(train: Runner, tmp_path: Path) -> None:
    request = iris_request(IRIS, tmp_path / "out")
    request["evaluation"]["testFraction"] = "1.5"
    request["estimatr"] = {}
    outcome = train(request)
    assert outcome.code == 2
    assert outcome.message.startswith("invalid request: ")
    assert (
        "evaluation.testFraction" in outcome.message and "estimatr: Extra inputs are not permitted" in outcome.message
    )


def test_a_digest_is_required_for_training(train: Runner, tmp_path: Path) -> None:
    request = iris_request(IRIS, tmp_path / "out")
    del request["dataset"]["expectedDigest"]
    outcome = train(request)
    assert outcome.code == 2
    assert "dataset.expectedDigest: Field required" in outcome.message


def test_no_request_at_all(train: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from herder.training.cli import train_main

    monkeypatch.delenv("HERDER_REQUEST_JSON", raising=False)
    log = tmp_path / "term"
    assert train_main(["--termination-log", str(log)]) == 2
    assert log.read_text().startswith("no request: give --request-file")


def test_a_crash_is_exit_1_with_the_exception_type(train: Runner, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    outcome = train(iris_request(IRIS, blocker / "out"))
    assert outcome.code == 1
    assert re.match(r"^(FileExistsError|NotADirectoryError): ", outcome.message), outcome.message


def test_an_internal_bug_is_exit_1_with_the_exception_type(
    train: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import herder.training.train as train_module

    def broken(model: object) -> bytes:
        raise RuntimeError("serialiser exploded")

    monkeypatch.setattr(train_module, "dump_model", broken)
    outcome = train(iris_request(IRIS, tmp_path / "out"))
    assert outcome.code == 1
    assert outcome.message == "RuntimeError: serialiser exploded"


def test_metrics_must_fit_the_task(train: Runner, tmp_path: Path) -> None:
    request = iris_request(IRIS, tmp_path / "out")
    request["evaluation"]["metrics"] = ["rmse"]
    outcome = train(request)
    assert outcome.code == 2
    assert "metrics ['rmse'] do not apply to classification" in outcome.message


def test_roc_auc_needs_probabilities(train: Runner, tmp_path: Path) -> None:
    request = iris_request(IRIS, tmp_path / "out", estimator={"className": "sklearn.svm.SVC", "params": {}})
    outcome = train(request)
    assert outcome.code == 2
    assert "roc_auc needs predict_proba" in outcome.message


def test_a_regressor_for_a_classification_task(train: Runner, tmp_path: Path) -> None:
    request = iris_request(IRIS, tmp_path / "out", estimator={"className": "sklearn.linear_model.Ridge", "params": {}})
    outcome = train(request)
    assert outcome.code == 2
    assert outcome.message == "estimator sklearn.linear_model.Ridge is not a classifier but the task is classification"
