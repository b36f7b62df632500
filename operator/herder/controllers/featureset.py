"""FeatureSet: declared transforms, checked against the Dataset schema they are meant for (no children)."""

from __future__ import annotations

from typing import Any

from herder.api.dataset import DatasetSpec
from herder.api.featureset import FeatureSetSpec
from herder.api.parsing import InvalidSpecError, parse_spec
from herder.controllers import lookups
from herder.controllers.context import ObjKey, OperatorContext
from herder.controllers.scaffold import Outcome, missing_reference, parse_spec_as
from herder.policy.conditions import Cond

NUMERIC = {"integer", "float"}


def check_against_schema(fs: FeatureSetSpec, ds: DatasetSpec) -> list[str]:
    """Problems, each naming the transform and the column: unknown column, the target used as a feature,
    a numeric transform on a non-numeric column, one-hot on a float column."""
    types = {c.name: c.type for c in ds.schema_.columns}
    problems = []
    for i, t in enumerate(fs.transforms):
        for col in t.columns:
            where = f"spec.transforms[{i}] ({t.name}) column {col!r}"
            if col not in types:
                problems.append(f"{where} is not in the Dataset schema (columns: {', '.join(types)})")
            elif col == ds.schema_.target:
                problems.append(f"{where} is the Dataset's target; it cannot be a feature")
            elif (t.scale or t.bucketize) and types[col] not in NUMERIC:
                op = "scale" if t.scale else "bucketize"
                problems.append(f"{where}: {op} needs a numeric column, but it is {types[col]}")
            elif t.one_hot and types[col] == "float":
                problems.append(f"{where}: oneHot on a float column; bucketize it instead")
    return problems


class FeatureSetController:
    kind = "FeatureSet"
    plural = "featuresets"

    def parse(self, body: dict[str, Any]) -> FeatureSetSpec:
        return parse_spec_as(self.kind, body, FeatureSetSpec)

    def reconcile(self, spec: FeatureSetSpec, body: dict[str, Any], ctx: OperatorContext) -> Outcome:
        ns = body["metadata"]["namespace"]
        columns = sorted({c for t in spec.transforms for c in t.columns})
        if spec.dataset_ref is None:
            return Outcome([Cond("Ready", "True", "Declared", "no datasetRef: checked when a TrainingJob uses it")],
                           fields={"inputColumns": columns})
        ref = ObjKey("Dataset", ns, spec.dataset_ref.name)
        ds_body = ctx.store.get(ref)
        if ds_body is None:
            return missing_reference(ctx, "Dataset", ref.name, namespace=ns, field_path="spec.datasetRef",
                                     depends_on={ref})
        try:
            ds = parse_spec("Dataset", ds_body)
        except InvalidSpecError:
            return Outcome([lookups.resolved(), Cond("Ready", "False", "DatasetInvalid",
                                                     f"Dataset {ref.name!r} has an invalid spec")], depends_on={ref})
        assert isinstance(ds, DatasetSpec)
        problems = check_against_schema(spec, ds)
        if problems:
            return Outcome([lookups.resolved(), Cond("Ready", "False", "ColumnMismatch", "; ".join(problems))],
                           depends_on={ref})
        return Outcome([lookups.resolved(), Cond("Ready", "True", "Valid",
                                                 f"{len(columns)} columns match Dataset {ref.name!r}")],
                       fields={"inputColumns": columns}, depends_on={ref})
