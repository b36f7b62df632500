"""Pure translation of a Pod spec into what the node agent runs: argv, environment, directories.

No I/O here beyond what the caller passes in, so the rules (which image runs, how mount paths map to local
directories, how ``$(VAR)`` expands) are unit-testable without a cluster.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_TERMINATION_PATH = "/dev/termination-log"


class UnsupportedPod(Exception):
    """The pod asks for something the local node agent cannot do; it becomes a Failed status with reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def image_is_herder(image: str, herder_image: str) -> bool:
    """``ghcr.io/herder-dev/herder:0.1.0`` and ``...@sha256:..`` match repository ``ghcr.io/herder-dev/herder``."""
    repo = re.split(r"[@]", image, maxsplit=1)[0]
    # strip a tag (a ':' after the last '/')
    last = repo.rsplit("/", 1)
    if ":" in last[-1]:
        repo = repo[: repo.rfind(":")]
    want = herder_image.split("@", maxsplit=1)[0]
    want_last = want.rsplit("/", 1)
    if ":" in want_last[-1]:
        want = want[: want.rfind(":")]
    return repo == want


# Roles of the Herder image this agent runs as local processes: the pods the operator creates. Anything else (the
# chart's `herder operator`) would be a second, real, cluster-wide operator running on this machine.
AGENT_ROLES = frozenset({"train", "validate", "serve"})
_WILDCARD = re.compile(r"(?:^|[=/@\s])(?:0\.0\.0\.0|\[::\]|::)(?=$|[:/\s])")


def launch_problem(argv: list[str], env: Mapping[str, str], container: str) -> UnsupportedPod | None:
    """Why this agent must not launch a container, or None.

    The agent runs pods as processes on the machine itself, so a pod that listens on a wildcard address would be
    reachable on every interface of the host, not on its pod IP; and the chart's operator pod would start a second,
    cluster-wide operator beside the one under test. Both are refused with a reason that says what to do instead.
    """
    role = next((a for a in argv[1:] if not a.startswith("-")), "")
    if Path(argv[0]).name == "herder" and role not in AGENT_ROLES:
        return UnsupportedPod(
            "UnsupportedRole",
            f"container {container!r} runs `herder {role or '(no subcommand)'}`; the local node agent runs only the "
            f"pods the operator creates ({', '.join(sorted(AGENT_ROLES))}). To try the Helm chart here, schedule the "
            "operator onto a kwok node (--set nodeSelector.type=kwok and the kwok toleration; see the README).")
    for where, value in [*((f"argument {a!r}", a) for a in argv[1:]), *((f"env {k}={v!r}", v) for k, v in env.items())]:
        if _WILDCARD.search(value):
            return UnsupportedPod(
                "WildcardAddress",
                f"container {container!r} would listen on a wildcard address ({where}); pods run by the local node "
                "agent are processes on this machine and must bind their pod IP: use $(POD_IP) from the downward API.")
    return None


_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: known names expand, unknown stay verbatim, ``$$`` escapes ``$``."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _VAR_REF.sub(sub, value)


@dataclass
class PathMap:
    """Container paths (volume mounts, the termination-message file) -> local directories or files."""

    entries: list[tuple[str, str]] = field(default_factory=list)

    def add(self, container_path: str, local: Path) -> None:
        self.entries.append((container_path.rstrip("/") or "/", str(local)))
        self.entries.sort(key=lambda e: -len(e[0]))

    def translate(self, value: str) -> str:
        """Rewrite every mount path that appears as a path (not inside a longer word) in ``value``, in one pass
        (so a local directory that itself starts with another mount path, e.g. /tmp, is not rewritten twice)."""
        if not self.entries:
            return value
        table = dict(self.entries)
        alternatives = "|".join(re.escape(c) for c, _ in self.entries)  # longest first
        pattern = re.compile(rf"(?<![A-Za-z0-9_.-])({alternatives})(?=/|$|[\s\"',;:])")
        return pattern.sub(lambda m: table[m.group(1)], value)


def field_ref(pod: Mapping[str, Any], path: str) -> str:
    meta = pod.get("metadata", {})
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": pod.get("spec", {}).get("nodeName", ""),
        "spec.serviceAccountName": pod.get("spec", {}).get("serviceAccountName", ""),
        "status.podIP": pod.get("status", {}).get("podIP", ""),
        "status.hostIP": pod.get("status", {}).get("hostIP", ""),
    }
    if path in simple:
        return str(simple[path])
    m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    raise UnsupportedPod("UnsupportedFieldRef", f"env fieldRef {path!r} is not supported by the local node agent")


def container_env(
    pod: Mapping[str, Any], container: Mapping[str, Any], base: Mapping[str, str],
    lookup: Callable[[str, str, str], str | None],
) -> dict[str, str]:
    """Environment for one container. ``lookup(kind, name, key)`` reads a ConfigMap/Secret key (or None)."""
    env: dict[str, str] = dict(base)
    for src in container.get("envFrom") or []:
        for kind in ("configMapRef", "secretRef"):
            if kind in src:
                raise UnsupportedPod("UnsupportedEnvFrom", f"envFrom.{kind} is not supported by the local agent")
    for item in container.get("env") or []:
        name = item["name"]
        if "value" in item or "valueFrom" not in item:
            env[name] = expand(item.get("value", ""), env)
            continue
        vf = item["valueFrom"]
        if "fieldRef" in vf:
            env[name] = field_ref(pod, vf["fieldRef"]["fieldPath"])
        elif "secretKeyRef" in vf or "configMapKeyRef" in vf:
            kind = "secret" if "secretKeyRef" in vf else "configmap"
            ref = vf.get("secretKeyRef") or vf.get("configMapKeyRef")
            got = lookup(kind, ref["name"], ref["key"])
            if got is None:
                if ref.get("optional"):
                    continue
                raise UnsupportedPod("CreateContainerConfigError",
                                     f"{kind} {ref['name']!r} key {ref['key']!r} not found for env {name}")
            env[name] = got
        elif "resourceFieldRef" in vf:
            res = vf["resourceFieldRef"]["resource"]
            section, _, rname = res.partition(".")
            env[name] = str(((container.get("resources") or {}).get(section) or {}).get(rname, "0"))
        else:
            raise UnsupportedPod("UnsupportedEnv", f"env {name}: valueFrom {sorted(vf)} is not supported")
    return env
