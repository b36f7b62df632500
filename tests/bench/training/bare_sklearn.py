"""The baseline: what a data scientist's own script does for the same model, with nothing of Herder's.

Read the CSV, hold out the same 20% (same seed, stratified), fit Pipeline(ColumnTransformer(StandardScaler),
estimator) on the rest, compute the same holdout metrics, save with skops. Run as a separate process, like
the trainer, so both pay for interpreter start-up and imports.

    python bare_sklearn.py DATA.csv OUT.skops ESTIMATOR_CLASS JSON_PARAMS
"""

from __future__ import annotations

import importlib
import json
import sys

import pandas as pd
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


def main(argv: list[str]) -> int:
    data, out, class_name, params = argv[0], argv[1], argv[2], json.loads(argv[3])
    frame = pd.read_csv(data)
    y = frame.pop("label")
    x_train, x_test, y_train, y_test = train_test_split(frame, y, test_size=0.2, random_state=0, stratify=y)
    module, _, name = class_name.rpartition(".")
    estimator = getattr(importlib.import_module(module), name)(**params)
    model = Pipeline(
        [("features", ColumnTransformer([("num", StandardScaler(), list(frame.columns))])), ("estimator", estimator)]
    )
    model.fit(x_train, y_train)
    predicted = model.predict(x_test)
    metrics = {
        "accuracy": accuracy_score(y_test, predicted),
        "f1": f1_score(y_test, predicted, average="macro"),
        "roc_auc": roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]),
    }
    sio.dump(model, out)
    print(json.dumps(metrics))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
