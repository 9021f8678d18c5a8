"""The `scrubber` section of crucible.yaml."""

from __future__ import annotations

from pydantic import Field

from crucible.common.config import PolicyModel


class ScrubberPolicy(PolicyModel):
    # The scrubber's cost is linear in the text, but one record still holds its whole batch (and
    # its replica) while it is scrubbed: a record over the cap is rejected with a reason instead.
    max_record_chars: int = Field(
        default=262_144,
        ge=1_000,
        le=50_000_000,
        description="Characters of turn text (all turns together) above which a raw record is rejected unscrubbed.",
    )
