"""The serving path's SHA-256 (built-in when available) gives hashlib's digests: a user's variant
and every response id's signature are the same whichever implementation a replica runs."""

import hashlib
import hmac
import random

from crucible.gateway.assignment import user_bucket
from crucible.gateway.response_ids import ResponseIds
from crucible.gateway.sha256 import sha256


def test_digests_and_copies_match_hashlib():
    rng = random.Random(7)
    for n in (0, 1, 55, 56, 64, 65, 1000):
        data = rng.randbytes(n)
        assert sha256(data).digest() == hashlib.sha256(data).digest()
        h = sha256(b"prefix")
        c = h.copy()
        c.update(data)
        assert c.hexdigest() == hashlib.sha256(b"prefix" + data).hexdigest()
        assert h.hexdigest() == hashlib.sha256(b"prefix").hexdigest()  # the copy left it alone


def test_assignment_bucket_is_hashlibs():
    digest = hashlib.sha256(b"rollout-1\x00user-9").digest()
    assert user_bucket("rollout-1", "user-9") == int.from_bytes(digest[:8], "big") / 2**64 * 100.0


def test_response_id_signature_is_rfc2104_hmac_sha256():
    secret = b"s" * 80  # longer than a block: hashed first, as RFC 2104 says
    ids = ResponseIds(secret, 3600)
    rid = ids.mint("r1", 0, "canary")
    body, sig = rid.rsplit(".", 1)
    assert sig == hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()[:32]
    assert len(body.split(".")[3]) == 16  # the 64-bit nonce, hex
    assert ids.mint("r1", 0, "canary") != rid
