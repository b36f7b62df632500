"""Where the control-plane binaries come from: KUBEBUILDER_ASSETS, or the version-keyed build cache."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

HACK = Path(__file__).resolve().parent.parent
REQUIRED = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok", "helm")


def controlplane_dir() -> Path:
    """Return the directory holding bin/ (and kwok-stages/, gateway-api-crds/), building it on first use.

    The build script is idempotent: with a complete cache it only prints the directory. With
    KUBEBUILDER_ASSETS set to a directory that holds every binary, that directory is used as bin/.
    """
    out = subprocess.run(
        ["bash", str(HACK / "build-controlplane.sh")], check=True, stdout=subprocess.PIPE, text=True
    ).stdout.strip().splitlines()
    return Path(out[-1])


def bin_dir() -> Path:
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets and all((Path(assets) / b).exists() for b in REQUIRED):
        return Path(assets)
    return controlplane_dir() / "bin"


def assets_dir() -> Path:
    """kwok stage files and Gateway API CRDs (always from the cache: they are module sources, not binaries)."""
    return controlplane_dir()
