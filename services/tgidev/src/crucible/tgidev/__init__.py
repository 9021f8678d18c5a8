"""tgi-dev: a TGI-protocol (and vLLM-style) server in the project, for the embedded run."""

from importlib.metadata import version

__version__ = version("crucible-tgidev")
