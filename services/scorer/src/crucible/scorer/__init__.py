"""The scorer: quality score (the seed's 0-10 formula), category and safety labels for every record,
with a review queue for crisis and borderline records."""

from importlib.metadata import version

__version__ = version("crucible-scorer")
