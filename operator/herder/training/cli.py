"""`herder validate` and `herder train`: one JSON request in, result files and a termination message out.

Exit codes are the contract with the operator: 0 success; 2 permanent failure (bad data, bad request, digest
mismatch -- the operator marks the resource Failed and does not retry); 1 unexpected error (the Job may retry;
the termination message starts with the exception type). The termination message is always written (at most
~3 KiB): a JSON summary on success, the one-line reason on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from herder.training.checks import summarise
from herder.training.errors import EXIT_OK, EXIT_PERMANENT, EXIT_UNEXPECTED, PermanentError, RequestError
from herder.training.outputs import write_replace, write_termination

DEFAULT_TERMINATION_LOG = "/dev/termination-log"
REQUEST_ENV = "HERDER_REQUEST_JSON"
M = TypeVar("M", bound=BaseModel)


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--request-file", help="path of the JSON request")
    source.add_argument("--request-json", help=f"the JSON request itself (fallback: ${REQUEST_ENV})")
    parser.add_argument(
        "--termination-log",
        default=DEFAULT_TERMINATION_LOG,
        help=f"where the summary / failure reason goes (default {DEFAULT_TERMINATION_LOG}; '' to skip)",
    )
    return parser


def _request_text(args: argparse.Namespace) -> str:
    if args.request_file:
        try:
            return Path(args.request_file).read_text()
        except OSError as exc:
            raise RequestError(f"cannot read --request-file {args.request_file}: {exc.strerror or exc}") from exc
    if args.request_json:
        return str(args.request_json)
    text = os.environ.get(REQUEST_ENV)
    if text:
        return text
    raise RequestError(f"no request: give --request-file, --request-json or ${REQUEST_ENV}")


def parse_request(model: type[M], text: str) -> M:
    """Validate the request JSON; the error names each bad field by its wire (camelCase) path."""
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<request>'}: {err['msg']}" for err in exc.errors()[:8]
        )
        raise RequestError(f"invalid request: {problems}") from exc


def _log(line: str) -> None:
    print(line, flush=True)


def _run(args: argparse.Namespace, work: Callable[[], str]) -> int:
    """Run *work* (returns the success summary), map failures to exit codes and termination messages."""
    try:
        summary = work()
    except PermanentError as exc:
        reason = str(exc)
        print(f"[error] {reason}", file=sys.stderr, flush=True)
        write_termination(args.termination_log, reason)
        return EXIT_PERMANENT
    except Exception as exc:
        traceback.print_exc()
        reason = f"{type(exc).__name__}: {exc}"
        write_termination(args.termination_log, reason)
        return EXIT_UNEXPECTED
    write_termination(args.termination_log, summary)
    return EXIT_OK


def validate_main(argv: Sequence[str]) -> int:
    """Entry point of `herder validate`."""
    parser = _parser("herder validate", "Validate a dataset against its schema and write its profile.")
    args = parser.parse_args(list(argv))

    def work() -> str:
        from herder.training.requests import ValidateRequest
        from herder.training.validate import run_validation

        request = parse_request(ValidateRequest, _request_text(args))
        result = run_validation(request, _log)
        if request.output_path:
            write_replace(request.output_path, result.model_dump_json(by_alias=True, indent=2).encode())
            _log(f"[validate] wrote {request.output_path}")
        if not result.valid:
            raise PermanentError(summarise(result.problems))
        from herder.training.status_profile import status_profile

        profile, complete = status_profile(result)
        return json.dumps(
            {
                "valid": True,
                "digest": result.digest,
                "rows": result.rows,
                "sizeBytes": result.size_bytes,
                "snapshot": result.snapshot,
                "columns": result.columns,
                "result": request.output_path,
                "profile": profile,
                "profileComplete": complete,
                "drift": [{"revision": d.revision, "value": d.value, "column": d.column, "columns": d.columns}
                          for d in result.drift],
            },
            sort_keys=True,
        )

    return _run(args, work)


def train_main(argv: Sequence[str]) -> int:
    """Entry point of `herder train` (also one search trial, or the final fit after a distributed search)."""
    parser = _parser("herder train", "Train, evaluate and write a model artifact with its metadata.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--trial-index",
        type=int,
        help="run only trial N of the search, write trials/N.json (Indexed Job: $(JOB_COMPLETION_INDEX))",
    )
    mode.add_argument("--select-best", action="store_true", help="read trials/*.json and train the best")
    args = parser.parse_args(list(argv))

    def work() -> str:
        from herder.serving.skops_defaults import install_snapshot

        # Before skops is imported: its default trusted-type names come from the snapshot (identical names,
        # checked against the real module by tests) instead of importing every scikit-learn module and walking
        # sys.modules for each of ~900 types -- ~0.3-0.5 s of CPU that is pure fixed overhead per training run.
        install_snapshot()
        from herder.training.requests import TrainRequest
        from herder.training.train import TrainMode, run_training

        request = parse_request(TrainRequest, _request_text(args))
        warnings.filterwarnings("ignore", category=FutureWarning)
        return run_training(request, TrainMode(trial_index=args.trial_index, select_best=args.select_best), _log)

    return _run(args, work)
