"""The evaluator: metrics, safety suite, pairwise rating and gates for a trained model."""

from importlib.metadata import version

__version__ = version("crucible-evaluator")
