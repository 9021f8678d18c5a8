"""The demo app database (`crucible demo-db`, and the source of `crucible run` when none is
configured): a generated relationship-coaching app, PII included. Extraction never imports
this package; the service shell and the CLI do, when no source is configured."""

# What `crucible run` and `crucible extract` generate when no source is configured.
DEFAULT_USERS = 200
DEFAULT_SEED = 7
