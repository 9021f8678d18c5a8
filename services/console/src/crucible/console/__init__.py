"""The web console: the review queue, human rating, and the loop at a glance (runs, datasets, models,
rollouts), server-rendered with Jinja2 and htmx (vendored: it works in an air-gapped cluster)."""

__version__ = "0.1.0"
