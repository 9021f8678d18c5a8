"""Near-duplicate clustering: MinHash signatures of character 5-grams, LSH banding, clusters."""

from importlib.metadata import version

__version__ = version("crucible-dedup")
