"""Signed response ids: the only proof that the gateway served an answer.

`<rollout|none>.<stage>.<variant letter>[p].<nonce>.<expiry>.<signature>`

- the variant letter (`s`/`c`) and the stage say where feedback is attributed, so any replica can
  attribute it without shared state; `p` says the exchange was published as an interaction record
  (so late feedback has a record to update);
- the expiry (Unix seconds, base 36) bounds how late feedback may come;
- the signature is HMAC-SHA256 over everything before it with the gateway's secret, truncated to
  128 bits. A forged id, or a real one with any part changed, fails `verify`.

One one-shot HMAC per request (a few µs), so the hot path pays little for it.
"""

from __future__ import annotations

import hmac
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from crucible.gateway.assignment import CANARY, STABLE
from crucible.gateway.sha256 import sha256

_SIG_HEX = 32

# Reasons `verify` gives (FeedbackResponse.reason, the metric label).
MALFORMED, FORGED, EXPIRED, GUARDED = "malformed", "forged", "expired", "guarded"


@dataclass(frozen=True, slots=True)
class IssuedResponse:
    """What a verified response id says about the answer it names."""

    response_id: str
    rollout_id: str
    stage_index: int
    variant: str
    published: bool  # an interaction record was published for it
    expires_at: int


class ResponseIds:
    def __init__(self, secret: bytes, ttl_seconds: float, clock: Callable[[], float] = time.time) -> None:
        if not secret:
            raise ValueError("response ids need a non-empty signing secret")
        key = sha256(secret).digest() if len(secret) > 64 else secret
        key = key.ljust(64, b"\0")
        self._inner = sha256(bytes(b ^ 0x36 for b in key))
        self._outer = sha256(bytes(b ^ 0x5C for b in key))
        self.ttl = int(ttl_seconds)
        self._clock = clock
        self._expiry_for, self._expiry = -1, ""
        # The nonce only makes each id unique (the signature is what cannot be forged): 64 bits from
        # a generator seeded by the OS, without a getrandom system call per request.
        self._nonce = random.Random(os.urandom(32)).getrandbits

    def mint(self, rollout_id: str, stage_index: int, variant: str, published: bool = False) -> str:
        now = int(self._clock())
        if now != self._expiry_for:  # the expiry text changes once a second: compute it then
            self._expiry_for, self._expiry = now, _b36(now + self.ttl)
        expiry = self._expiry
        flag = "p" if published else ""
        body = f"{rollout_id or 'none'}.{stage_index}.{variant[0]}{flag}.{self._nonce(64):016x}.{expiry}"
        return f"{body}.{self._sign(body)}"

    def verify(self, response_id: str) -> IssuedResponse | str:
        """The issued response, or why not (MALFORMED, FORGED, EXPIRED, GUARDED)."""
        parts = response_id.split(".")
        if len(parts) == 4 and parts[2] == "g":  # the serving guard's template answers: no variant
            return GUARDED
        if len(parts) != 6 or len(parts[5]) != _SIG_HEX or not parts[1].isdigit() or len(response_id) > 512:
            return MALFORMED
        letter, flag = parts[2][:1], parts[2][1:]
        if letter not in ("s", "c") or flag not in ("", "p"):
            return MALFORMED
        body = response_id[: -(_SIG_HEX + 1)]
        if not hmac.compare_digest(self._sign(body), parts[5]):
            return FORGED
        try:
            expires_at = int(parts[4], 36)
        except ValueError:
            return MALFORMED
        if expires_at < self._clock():
            return EXPIRED
        return IssuedResponse(
            response_id=response_id,
            rollout_id="" if parts[0] == "none" else parts[0],
            stage_index=int(parts[1]),
            variant=CANARY if letter == "c" else STABLE,
            published=flag == "p",
            expires_at=expires_at,
        )

    def _sign(self, body: str) -> str:
        # HMAC-SHA256 (RFC 2104) from the keyed inner and outer states prepared once: copying a
        # hash state is far cheaper than `hmac.new` re-deriving them on every request.
        inner = self._inner.copy()
        inner.update(body.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()[:_SIG_HEX]


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out
