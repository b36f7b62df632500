"""The profile the validator hands to the operator fits the termination message and the Dataset status schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from herder.api.dataset import ColumnProfile, DatasetSpec
from herder.resources.trainer_requests import validate_request
from herder.training.requests import ValidateRequest
from herder.training.status_profile import status_profile
from herder.training.validate import run_validation

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("example", "data"), [("iris.yaml", "iris.csv"), ("diabetes-regression.yaml", "diabetes.csv")])
def test_status_profile_fits_and_matches_the_schema(example: str, data: str) -> None:
    doc = next(d for d in yaml.safe_load_all((ROOT / "examples" / example).read_text()) if d["kind"] == "Dataset")
    doc["spec"]["source"]["uri"] = (ROOT / "examples" / "data" / data).as_uri()
    request = ValidateRequest.model_validate(validate_request(DatasetSpec.model_validate(doc["spec"]), "/tmp/x"))
    result = run_validation(request, lambda _: None)
    profile, complete = status_profile(result)
    assert len(json.dumps(profile, separators=(",", ":"))) <= 2000
    parsed = [ColumnProfile.model_validate(c) for c in profile]
    assert parsed[0].name == result.profile[0].name
    if example == "iris.yaml":
        assert complete
        assert [c.name for c in parsed] == ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
        assert parsed[-1].bins is not None
        assert parsed[-1].bins.categories == ["setosa", "versicolor", "virginica"]
        assert parsed[0].bins is not None
        assert sum(parsed[0].bins.counts or []) == 150
