"""The dataset service: curated store, bias audit, balanced leakage-free splits, versions, forget."""

VERSION = "0.1.0"
