"""Herder: the machine-learning lifecycle as Kubernetes resources.

`operator/` is a source root, not a package: a package named ``operator`` would shadow the standard
library module of that name, which numpy, pandas and many others import.
"""

__version__ = "0.1.0"
API_GROUP = "herder.dev"
API_VERSION = "v1alpha1"
