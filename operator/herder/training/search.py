"""Hyper-parameter search: in-process (GridSearchCV / RandomizedSearchCV, n_jobs=1) or one trial per pod.

Both modes enumerate the same candidates in the same order -- ParameterGrid for grid, ParameterSampler with
the search seed for random, which is what the *SearchCV classes use internally -- so trial N of an Indexed Job
is exactly candidate N of the in-process search, and ``--select-best`` picks the same winner either way
(highest mean CV score, ties to the lowest index).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pandas as pd
from sklearn.model_selection import GridSearchCV, ParameterGrid, ParameterSampler, RandomizedSearchCV, cross_val_score

from herder.training.errors import PermanentError, SpecError
from herder.training.estimators import parse_param
from herder.training.evaluation import LOWER_IS_BETTER, SCORERS
from herder.training.outputs import join_uri, read_text, write_replace
from herder.training.requests import SearchSpec

STEP = "estimator"


class MissingTrialsError(Exception):
    """Some trial results are not there yet (retryable: the Indexed Job may still be finishing)."""


def parsed_space(search: SearchSpec, valid_params: set[str]) -> dict[str, list[Any]]:
    """The space with parsed values, keyed by the Pipeline's step prefix; unknown parameters are refused."""
    unknown = sorted(set(search.space) - valid_params)
    if unknown:
        valid = ", ".join(sorted(valid_params))
        raise SpecError(f"search.space: unknown estimator parameters {unknown} (valid: {valid})")
    return {f"{STEP}__{name}": [parse_param(v) for v in values] for name, values in search.space.items()}


def candidates(search: SearchSpec, space: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every candidate parameter set, in the order the *SearchCV classes evaluate them."""
    if search.kind == "grid":
        grid = list(ParameterGrid(space))
        return grid[: search.trials] if search.trials else grid
    n_iter = search.trials or 10
    total = len(ParameterGrid(space))
    return list(ParameterSampler(space, n_iter=min(n_iter, total), random_state=search.seed))


def strip_step(params: dict[str, Any]) -> dict[str, Any]:
    return {k.removeprefix(f"{STEP}__"): v for k, v in params.items()}


def scoring_for(search: SearchSpec, metrics: list[str]) -> str:
    """The metric that ranks candidates: search.scoring, else the first evaluation metric."""
    return search.scoring or metrics[0]


def natural(metric: str, sk_score: float) -> float:
    """scikit-learn's score (higher is better) in the metric's own units (rmse/mae positive)."""
    return -sk_score if metric in LOWER_IS_BETTER else sk_score


def run_search(
    pipeline: Any,
    search: SearchSpec,
    space: dict[str, list[Any]],
    x: pd.DataFrame,
    y: pd.Series,
    *,
    cv: Any,
    metric: str,
    log: Callable[[str], None],
) -> tuple[dict[str, Any], float, int]:
    """In-process search on the training split; returns (best params without prefix, best score, candidates)."""
    count = len(candidates(search, space))
    log(f"[train] search {search.kind}: {count} candidates x {cv.get_n_splits()} folds, scoring {metric}")
    searcher: GridSearchCV | RandomizedSearchCV
    if search.kind == "grid":
        grid = candidates(search, space)
        searcher = GridSearchCV(
            pipeline,
            [{k: [v] for k, v in c.items()} for c in grid],
            scoring=SCORERS[metric],
            cv=cv,
            n_jobs=1,
            refit=False,
            error_score="raise",
        )
    else:
        searcher = RandomizedSearchCV(
            pipeline,
            space,
            n_iter=count,
            scoring=SCORERS[metric],
            cv=cv,
            n_jobs=1,
            refit=False,
            random_state=search.seed,
            error_score="raise",
        )
    searcher.fit(x, y)
    best = strip_step(searcher.best_params_)
    score = natural(metric, float(searcher.best_score_))
    log(f"[train] search best {metric}={score:.4f} with {best}")
    return best, score, count


def run_trial(
    pipeline: Any,
    candidate: dict[str, Any],
    x: pd.DataFrame,
    y: pd.Series,
    *,
    cv: Any,
    metric: str,
) -> float:
    """Mean CV score (scikit-learn's sign) of one candidate on the training split."""
    model = pipeline.set_params(**candidate)
    scores = cross_val_score(model, x, y, scoring=SCORERS[metric], cv=cv, n_jobs=1, error_score="raise")
    return float(scores.mean())


def trial_uri(output_dir: str, index: int) -> str:
    return join_uri(output_dir, "trials", f"{index}.json")


def write_trial(output_dir: str, index: int, params: dict[str, Any], metric: str, sk_score: float) -> str:
    """Record one trial's result as ``<outputDir>/trials/<N>.json``; returns its URI."""
    uri = trial_uri(output_dir, index)
    document = {
        "index": index,
        "params": strip_step(params),
        "scoring": metric,
        "score": natural(metric, sk_score),
        "rankScore": sk_score,
    }
    write_replace(uri, json.dumps(document, sort_keys=True).encode())
    return uri


def select_best(output_dir: str, count: int) -> tuple[int, dict[str, Any], float, str]:
    """The best of trials 0..count-1 by rankScore (ties to the lowest index): (index, params, score, metric)."""
    found: list[dict[str, Any]] = []
    missing: list[int] = []
    for index in range(count):
        text = read_text(trial_uri(output_dir, index))
        if text is None:
            missing.append(index)
            continue
        try:
            found.append(json.loads(text))
        except json.JSONDecodeError as exc:
            raise PermanentError(f"trial file {trial_uri(output_dir, index)} is not JSON: {exc}") from exc
    if missing:
        raise MissingTrialsError(f"missing trial results for indices {missing} of {count} under {output_dir}/trials")
    best = max(found, key=lambda d: (float(d["rankScore"]), -int(d["index"])))
    return int(best["index"]), dict(best["params"]), float(best["score"]), str(best["scoring"])
