"""The `herder` command: one entry point, one subcommand per role.

Each subcommand lives in the package that owns it and is imported lazily, so `herder serve` does not pay for
kopf and `herder operator` does not pay for scikit-learn. Every sub-main takes its own argv and returns an exit code.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

# subcommand -> (module, function, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "operator": ("herder.controllers.main", "main", "run the Kubernetes operator (kopf)"),
    "serve": ("herder.serving.cli", "main", "run the model server (V1 and Open Inference Protocol V2 REST)"),
    "train": ("herder.training.cli", "train_main", "run a training job (inside a TrainingJob's pod)"),
    "validate": ("herder.training.cli", "validate_main", "validate and profile a Dataset (inside its Job)"),
    "crds": ("herder.crdgen.cli", "main", "generate or check the CRDs from the pydantic models"),
    "report": ("herder.report", "main", "write an HTML report of a Model's history"),
}


def _usage() -> str:
    lines = ["usage: herder <command> [options]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, _, help_) in SUBCOMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    if args[0] == "--version":
        from herder import __version__

        print(__version__)
        return 0
    entry = SUBCOMMANDS.get(args[0])
    if entry is None:
        print(f"herder: unknown command {args[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, func_name, _ = entry
    func: Callable[[list[str]], int] = getattr(importlib.import_module(module_name), func_name)
    return func(args[1:])


if __name__ == "__main__":
    raise SystemExit(main())
