"""Pure rules inside the controllers: retention, search trial counts, FeatureSet checks, trainer requests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from herder.api.dataset import DatasetSpec
from herder.api.featureset import FeatureSetSpec
from herder.api.training import TrainingJobSpec
from herder.controllers.featureset import check_against_schema
from herder.controllers.model import retired_versions
from herder.controllers.trainingjob import search_trials
from herder.resources.trainer_requests import RequestError, train_request, validate_request
from herder.training.requests import TrainRequest, ValidateRequest

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def docs(name: str) -> dict[str, dict]:  # type: ignore[type-arg]
    return {d["kind"]: d for d in yaml.safe_load_all((EXAMPLES / name).read_text()) if d}


def test_retention_keeps_newest_aliased_and_deployed() -> None:
    assert retired_versions([1, 2, 3, 4, 5, 6], 3, {"production": 2}, {1}) == [3]
    assert retired_versions([1, 2], 3, {}, set()) == []


def test_search_trials_is_the_capped_grid() -> None:
    spec = TrainingJobSpec.model_validate(docs("diabetes-regression.yaml")["TrainingJob"]["spec"])
    assert search_trials(spec) == 6  # 2 x 3 x 2 = 12 candidates, trials: 6


def test_featureset_columns_are_checked_against_the_schema() -> None:
    iris = docs("iris.yaml")
    ds = DatasetSpec.model_validate(iris["Dataset"]["spec"])
    fs = FeatureSetSpec.model_validate({"transforms": [
        {"name": "a", "columns": ["sepal_length", "nope"], "scale": {}},
        {"name": "b", "columns": ["species"], "passthrough": {}}]})
    problems = check_against_schema(fs, ds)
    assert problems[0].startswith("spec.transforms[0] (a) column 'nope' is not in the Dataset schema")
    assert problems[1] == "spec.transforms[1] (b) column 'species' is the Dataset's target; it cannot be a feature"


@pytest.mark.parametrize("example", ["iris.yaml", "diabetes-regression.yaml"])
def test_examples_translate_into_valid_trainer_requests(example: str) -> None:
    d = docs(example)
    ds = DatasetSpec.model_validate(d["Dataset"]["spec"])
    ValidateRequest.model_validate(validate_request(ds, "/out/profile.json"))
    req = train_request(model_name="m", version=1, task=d["Model"]["spec"]["task"], dataset=ds,
                        digest="sha256:" + "a" * 64,
                        features=FeatureSetSpec.model_validate(d["FeatureSet"]["spec"]),
                        template=TrainingJobSpec.model_validate(d["TrainingJob"]["spec"]), output_dir="file:///o")
    parsed = TrainRequest.model_validate(req)
    assert parsed.estimator.class_name.startswith("sklearn.")


def test_unsupported_search_ranges_are_named() -> None:
    d = docs("diabetes-regression.yaml")
    tj = d["TrainingJob"]["spec"]
    tj["search"]["space"][0] = {"param": "learning_rate", "range": {"min": "0.01", "max": "0.3"}}
    tj["search"]["strategy"] = "Random"
    with pytest.raises(RequestError, match=r"spec.search.space\[learning_rate\].range"):
        train_request(model_name="m", version=1, task="Regression",
                      dataset=DatasetSpec.model_validate(d["Dataset"]["spec"]), digest="sha256:" + "a" * 64,
                      features=None, template=TrainingJobSpec.model_validate(tj), output_dir="file:///o")
