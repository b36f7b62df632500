"""Whole objects (apiVersion, kind, metadata, spec, status) of the six kinds, for examples, tests and tools that
handle complete manifests. Controllers usually parse just the spec (see :mod:`herder.api.parsing`)."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from herder.api.common import API_VERSION_STRING, ObjectMeta
from herder.api.dataset import DatasetSpec, DatasetStatus
from herder.api.deployment import ModelDeploymentSpec, ModelDeploymentStatus
from herder.api.featureset import FeatureSetSpec, FeatureSetStatus
from herder.api.model import ModelSpec, ModelStatus
from herder.api.modelversion import ModelVersionSpec, ModelVersionStatus
from herder.api.training import TrainingJobSpec, TrainingJobStatus

SpecT = TypeVar("SpecT", bound=BaseModel)
StatusT = TypeVar("StatusT", bound=BaseModel)


class Resource(BaseModel, Generic[SpecT, StatusT]):
    """A Herder custom resource as the API server serves it."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    api_version: Literal["herder.dev/v1alpha1"] = API_VERSION_STRING  # type: ignore[assignment]
    kind: str
    metadata: ObjectMeta
    spec: SpecT
    status: StatusT | None = None

    def wire(self) -> dict[str, Any]:
        """The object as the API server stores it: camelCase keys, only the fields that were set."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class Dataset(Resource[DatasetSpec, DatasetStatus]):
    kind: Literal["Dataset"] = "Dataset"


class FeatureSet(Resource[FeatureSetSpec, FeatureSetStatus]):
    kind: Literal["FeatureSet"] = "FeatureSet"


class TrainingJob(Resource[TrainingJobSpec, TrainingJobStatus]):
    kind: Literal["TrainingJob"] = "TrainingJob"


class Model(Resource[ModelSpec, ModelStatus]):
    kind: Literal["Model"] = "Model"


class ModelVersion(Resource[ModelVersionSpec, ModelVersionStatus]):
    kind: Literal["ModelVersion"] = "ModelVersion"


class ModelDeployment(Resource[ModelDeploymentSpec, ModelDeploymentStatus]):
    kind: Literal["ModelDeployment"] = "ModelDeployment"


AnyResource = Dataset | FeatureSet | TrainingJob | Model | ModelVersion | ModelDeployment
