"""Read a Model, its ModelVersions, the ModelDeployments serving it and the Datasets it trains on through the
Kubernetes API (read-only: get and list in one namespace, which a namespace's ``view``-like role allows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from herder import API_GROUP as GROUP
from herder import API_VERSION as VERSION
from herder.report.data import serves


class ReportError(Exception):
    """A problem the user can act on (printed without a traceback)."""


@dataclass(frozen=True)
class Objects:
    model: dict[str, Any]
    versions: list[dict[str, Any]]
    deployments: list[dict[str, Any]]
    datasets: list[dict[str, Any]]
    """The Datasets the Model trains on (template, retraining data, and those its versions name)."""


def used_datasets(model: dict[str, Any], versions: list[dict[str, Any]]) -> set[str]:
    spec = model.get("spec") or {}
    names = {((spec.get("training") or {}).get("datasetRef") or {}).get("name"),
             ((((spec.get("retraining") or {}).get("data") or {}).get("datasetRef")) or {}).get("name")}
    names |= {(((v.get("spec") or {}).get("lineage") or {}).get("dataset") or {}).get("name") for v in versions}
    return {n for n in names if isinstance(n, str)}


def _client(kubeconfig: str | None) -> Any:
    from kubernetes import client, config

    try:
        if kubeconfig:
            return client.CustomObjectsApi(config.new_client_from_config(config_file=kubeconfig))
        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        return client.CustomObjectsApi()
    except (config.ConfigException, OSError) as e:
        raise ReportError(f"cannot load the Kubernetes configuration ({kubeconfig or 'default'}): {e}") from e


def default_namespace(kubeconfig: str | None) -> str:
    """The current context's namespace (as kubectl uses it), else "default"."""
    from kubernetes import config

    try:
        _, active = config.list_kube_config_contexts(config_file=kubeconfig)
    except (config.ConfigException, OSError, TypeError):
        return "default"
    ns = ((active or {}).get("context") or {}).get("namespace")
    return str(ns) if ns else "default"


def fetch(model: str, namespace: str, kubeconfig: str | None = None) -> Objects:
    """The objects of ``model``; ReportError naming the Model and namespace when it does not exist."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    api = _client(kubeconfig)
    try:
        body = api.get_namespaced_custom_object(GROUP, VERSION, namespace, "models", model)
    except ApiException as e:
        if e.status == 404:
            raise ReportError(f"Model {model!r} not found in namespace {namespace!r}") from e
        raise ReportError(f"cannot read Model {model!r} in namespace {namespace!r}: {e.status} {e.reason}") from e
    except (OSError, HTTPError) as e:
        raise ReportError(f"cannot reach the Kubernetes API server to read Model {model!r} in namespace "
                          f"{namespace!r}: {type(e).__name__}") from e
    try:
        versions = api.list_namespaced_custom_object(GROUP, VERSION, namespace, "modelversions")["items"]
        deployments = api.list_namespaced_custom_object(GROUP, VERSION, namespace, "modeldeployments")["items"]
        datasets = api.list_namespaced_custom_object(GROUP, VERSION, namespace, "datasets")["items"]
    except ApiException as e:
        raise ReportError(f"cannot list the ModelVersions, ModelDeployments and Datasets of namespace "
                          f"{namespace!r}: {e.status} {e.reason}") from e
    mine = [v for v in versions if (v.get("spec") or {}).get("modelRef", {}).get("name") == model]
    names = used_datasets(body, mine)
    return Objects(body, mine, [d for d in deployments if serves(d, model)],
                   [d for d in datasets if (d.get("metadata") or {}).get("name") in names])
