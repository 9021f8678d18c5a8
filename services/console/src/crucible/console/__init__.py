"""The web console: the review queue, human rating, and the loop at a glance (runs, datasets, models,
rollouts), server-rendered with Jinja2 and htmx (vendored: it works in an air-gapped cluster)."""

from importlib.metadata import version

__version__ = version("crucible-console")
