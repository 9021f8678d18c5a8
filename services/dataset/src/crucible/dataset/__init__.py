"""The dataset service: curated store, bias audit, balanced leakage-free splits, versions, forget."""

from importlib.metadata import version

__version__ = version("crucible-dataset")
