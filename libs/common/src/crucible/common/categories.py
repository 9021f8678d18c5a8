"""The seed's five conversation categories and their target shares (seed 001).

A contract, like the proto: the scorer labels every record with one of these names and uses
the shares to tell an underrepresented scenario; the dataset builder balances versions to the
same shares. Both services read them from here so the two can never drift apart; each still
lets `crucible.yaml` override the shares in its own section.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

CATEGORIES: tuple[str, ...] = (
    "instruction_following",
    "contextual_understanding",
    "empathetic_dialogue",
    "personalization",
    "safety_ethics",
)
TARGET_SHARES: Mapping[str, float] = MappingProxyType(
    {
        "instruction_following": 0.40,
        "contextual_understanding": 0.25,
        "empathetic_dialogue": 0.20,
        "personalization": 0.10,
        "safety_ethics": 0.05,
    }
)
