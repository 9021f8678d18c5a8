"""The trainer: LoRA/QLoRA fine-tuning of a causal LM on a dataset version (issue 7)."""

from importlib.metadata import version

__version__ = version("crucible-trainer")
