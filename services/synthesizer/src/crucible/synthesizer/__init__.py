"""The synthesizer: plans synthetic conversations from a dataset version's deficits, generates them
through a fallback chain of LLM endpoints and publishes them to crucible.records.raw."""

from importlib.metadata import version

VERSION = version("crucible-synthesizer")
