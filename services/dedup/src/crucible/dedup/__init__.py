"""Near-duplicate clustering: MinHash signatures of character 5-grams, LSH banding, clusters."""

__version__ = "0.1.0"
