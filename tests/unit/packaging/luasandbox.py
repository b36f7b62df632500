"""Run Argo CD resource-customization Lua the way Argo CD does: Lua 5.1 (Argo CD embeds gopher-lua, a Lua 5.1
implementation) with only the base, table, string and math libraries plus a "safe" ``os`` holding ``time`` and
``date``; the object under test is the global ``obj``. A script that reaches for ``io``, ``require`` or
``os.execute`` fails here as it would in Argo CD. Health checks run as assembled by hack/gen-argocd-cm.py (the
kind's health.lua with the shared health/lib.lua pasted in), which is the text the argocd-cm carries."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import lupa.lua51 as lua

ROOT = Path(__file__).resolve().parents[3]
ARGOCD = ROOT / "argocd"
KINDS = ("Dataset", "FeatureSet", "TrainingJob", "Model", "ModelVersion", "ModelDeployment")
HEALTH_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}

_SANDBOX = """
local safe_os = { time = os.time, date = os.date }
io, debug, package, require, dofile, loadfile, load, loadstring, module, python = nil
os = safe_os
collectgarbage = nil
"""


def _runtime() -> Any:
    rt = lua.LuaRuntime(register_eval=False, register_builtins=False, unpack_returned_tuples=False)
    rt.execute(_SANDBOX)
    return rt


def to_python(value: Any) -> Any:
    """Lua tables back to dicts/lists (a table with keys 1..n is a list; an empty table compares as {})."""
    if lua.lua_type(value) != "table":
        return value
    items = dict(value.items())
    if items and all(isinstance(k, int) for k in items) and sorted(items) == list(range(1, len(items) + 1)):
        return [to_python(items[i]) for i in range(1, len(items) + 1)]
    return {k: to_python(v) for k, v in items.items()}


@functools.cache
def generator() -> ModuleType:
    """hack/gen-argocd-cm.py as a module (its name has a dash, so it is loaded from its path)."""
    spec = importlib.util.spec_from_file_location("gen_argocd_cm", ROOT / "hack" / "gen-argocd-cm.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def health_script(kind: str) -> str:
    """The self-contained health script Argo CD gets for *kind*."""
    return str(generator().health_script(ARGOCD / "health" / f"herder.dev_{kind}" / "health.lua"))


def execute(source: str, obj: dict[str, Any]) -> Any:
    """Run Lua *source* with the global ``obj`` set to a Lua copy of *obj*; return its result as Python data."""
    rt = _runtime()
    rt.globals()["obj"] = rt.table_from(obj, recursive=True)
    return to_python(rt.execute(source))


def run(script: Path, obj: dict[str, Any]) -> Any:
    return execute(script.read_text(), obj)


def health(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    result = execute(health_script(kind), obj)
    assert isinstance(result, dict), result
    return result


def action(kind: str, name: str, obj: dict[str, Any]) -> dict[str, Any]:
    result = run(ARGOCD / "actions" / kind / name / "action.lua", obj)
    assert isinstance(result, dict), result
    return result


def discovery(kind: str, obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result = run(ARGOCD / "actions" / kind / "discovery.lua", obj)
    assert isinstance(result, dict), result
    return result
