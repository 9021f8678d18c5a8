"""How a person is named inside Crucible: the subject token (HMAC of the app's user id, on
records) and the subject digest (a one-way hash of the token, in the lists that must outlive a
forget: forgotten subjects, opt-outs, receipts). After `crucible forget` the token itself is
nowhere; a list can still answer "is this record's subject excluded?" by hashing the token."""

from __future__ import annotations

import hashlib
import hmac

# Also in migrations/versions/privacy_0001 (a migration never imports application code).
_DIGEST_PREFIX = b"crucible-subject-digest\x00"


def subject_token(secret: bytes, user_id: str) -> str:
    """HMAC-SHA256(secret, user_id), hex: the same token the extractor puts on records."""
    return hmac.new(secret, str(user_id).encode("utf-8"), hashlib.sha256).hexdigest()


def subject_digest(token: str) -> str:
    """sha256 of the token (domain-separated), hex."""
    if not token:
        raise ValueError("an empty subject token has no digest")
    return hashlib.sha256(_DIGEST_PREFIX + token.encode("utf-8")).hexdigest()
