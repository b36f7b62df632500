"""The six kind controllers, in dependency order (data first, serving last)."""

from __future__ import annotations

from herder.controllers.dataset import DatasetController
from herder.controllers.featureset import FeatureSetController
from herder.controllers.model import ModelController
from herder.controllers.modeldeployment import ModelDeploymentController
from herder.controllers.modelversion import ModelVersionController
from herder.controllers.scaffold import KindController
from herder.controllers.trainingjob import TrainingJobController


def all_controllers() -> list[KindController]:
    return [DatasetController(), FeatureSetController(), TrainingJobController(), ModelController(),
            ModelVersionController(), ModelDeploymentController()]
