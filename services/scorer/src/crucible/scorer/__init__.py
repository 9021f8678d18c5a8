"""The scorer: quality score (the seed's 0-10 formula), category and safety labels for every record,
with a review queue for crisis and borderline records."""

__version__ = "0.1.0"
