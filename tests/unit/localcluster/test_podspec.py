"""Pure rules of the local node agent: which image runs, $(VAR) expansion, mount-path rewriting, env sources."""

from __future__ import annotations

from pathlib import Path

import pytest
from localcluster.kwokconfig import stage_documents
from localcluster.podspec import PathMap, UnsupportedPod, container_env, expand, image_is_herder, launch_problem


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        ("ghcr.io/herder-dev/herder", True),
        ("ghcr.io/herder-dev/herder:0.1.0", True),
        ("ghcr.io/herder-dev/herder@sha256:" + "a" * 64, True),
        ("ghcr.io/herder-dev/herder-evil:1", False),
        ("nginx:1.27", False),
        ("registry:5000/herder", False),
    ],
)
def test_only_the_herder_image_runs(image: str, ok: bool) -> None:
    assert image_is_herder(image, "ghcr.io/herder-dev/herder") is ok


def test_expand_follows_kubernetes_rules() -> None:
    env = {"A": "1", "POD_IP": "127.65.0.2"}
    assert expand("--host=$(POD_IP) $(A)$(A)", env) == "--host=127.65.0.2 11"
    assert expand("$(MISSING) stays", env) == "$(MISSING) stays"
    assert expand("$$(A) escaped", env) == "$(A) escaped"


def test_path_map_rewrites_paths_not_substrings() -> None:
    m = PathMap()
    m.add("/data", "/tmp/pod/data")  # type: ignore[arg-type]
    m.add("/data/models", "/srv/store")  # type: ignore[arg-type]
    assert m.translate("/data/x.csv") == "/tmp/pod/data/x.csv"
    assert m.translate("file:///data/models/a.skops") == "file:///srv/store/a.skops"
    assert m.translate("--out=/data") == "--out=/tmp/pod/data"
    assert m.translate("/mydata/x") == "/mydata/x"
    assert m.translate("/foo/data/x") == "/foo/data/x"


def test_path_map_rewrites_once() -> None:
    m = PathMap()
    m.add("/tmp", Path("/run/pod/tmp"))
    m.add("/var/lib/herder/store", Path("/tmp/cluster/storage/ns/claim"))
    assert m.translate("file:///var/lib/herder/store/d.csv") == "file:///tmp/cluster/storage/ns/claim/d.csv"
    assert m.translate("/tmp/x") == "/run/pod/tmp/x"


def test_env_sources() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns", "labels": {"app": "a"}}, "status": {"podIP": "127.65.0.9"}}
    container = {"env": [
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "URL", "value": "http://$(IP):8080"},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
    ]}
    env = container_env(pod, container, {"PATH": "/bin"}, lambda kind, name, key: f"{kind}:{name}:{key}")
    assert env == {"PATH": "/bin", "IP": "127.65.0.9", "APP": "a", "URL": "http://127.65.0.9:8080",
                   "TOKEN": "secret:s:k"}


def test_missing_secret_is_a_clear_error() -> None:
    container = {"env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k"}}}]}
    with pytest.raises(UnsupportedPod, match="secret 'creds' key 'k' not found for env TOKEN"):
        container_env({}, container, {}, lambda *_: None)


def test_kwok_stages_come_from_the_module(tmp_path: object) -> None:
    import os
    from pathlib import Path

    root = os.environ.get("HERDER_KWOK_STAGES")
    if root is None:
        from localcluster import binaries

        root = str(binaries.assets_dir() / "kwok-stages")
    names = {d["metadata"]["name"] for d in stage_documents(Path(root))}  # type: ignore[index]
    assert {"node-initialize", "node-heartbeat-with-lease", "pod-ready", "pod-complete", "pod-delete"} <= names


@pytest.mark.parametrize(("argv", "env", "reason"), [
    (["herder", "serve", "--host=127.70.0.5", "--port=8080"], {}, None),
    (["herder", "train", "--spec=/x"], {"HERDER_METRICS_ADDRESS": "127.70.0.5"}, None),
    (["herder", "validate"], {}, None),
    (["herder", "operator", "--liveness=http://127.0.0.1:8080/healthz"], {}, "UnsupportedRole"),
    (["herder", "--verbose"], {}, "UnsupportedRole"),
    (["herder", "serve", "--host=0.0.0.0"], {}, "WildcardAddress"),
    (["herder", "serve", "--host", "::"], {}, "WildcardAddress"),
    (["herder", "serve", "--liveness=http://[::]:8080/healthz"], {}, "WildcardAddress"),
    (["herder", "serve"], {"HERDER_METRICS_ADDRESS": "0.0.0.0"}, "WildcardAddress"),
    (["herder", "serve", "--note=10.0.0.0/8"], {}, None),
])
def test_the_agent_refuses_a_second_operator_and_wildcard_listeners(argv: list[str], env: dict[str, str],
                                                                     reason: str | None) -> None:
    problem = launch_problem(argv, env, "main")
    assert (problem.reason if problem else None) == reason
    if problem is not None:
        assert "'main'" in problem.message
        assert ("kwok" in problem.message) if reason == "UnsupportedRole" else ("$(POD_IP)" in problem.message)


def test_other_programs_of_the_image_still_run() -> None:
    """Only the `herder` command's roles are restricted; a test's `python -c ...` in the image runs as before."""
    assert launch_problem(["/usr/bin/python", "-c", "import time"], {}, "main") is None
    assert launch_problem(["/opt/venv/bin/herder", "operator"], {}, "main") is not None
