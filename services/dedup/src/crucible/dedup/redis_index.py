"""The Redis-backed dedup index, shared by every dedup replica (the shell picks it when
`CRUCIBLE_REDIS_URL` is set). This module is I/O; the rule it applies is the one in
`index.py`, the same as `MemoryIndex`, and the tests check both give the same clusters.

Concurrency: a Lua script decides and indexes a chunk of records atomically (Redis runs one
script at a time), so claiming the exact key and the LSH band keys, finding candidates and
writing the decision are one step. Two near-duplicates processed at the same moment by two
replicas are therefore serialised: whichever script runs second sees the first record's band
claims and joins its cluster. Chunks keep each script short so other clients are not stalled.

Keys (all under one prefix whose `{hash tag}` puts them in one Redis Cluster slot):
  <prefix>:layout       JSON of num_perm/seed/bands/rows; a mismatch is an error at start
  <prefix>:seq          insertion counter (the "earliest" in tie-breaks)
  <prefix>:x:<8 bytes>  exact key (little-endian) -> first record id with that normalised text
  <prefix>:b:<8 bytes>  LSH band key (little-endian) -> first record id that had that band
  <prefix>:r:<id>       hash: c cluster id, d duplicate_of, m matching slots, e exact, s signature, q seq
Durability is Redis's (AOF/RDB as the operator configures it).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from crucible.dedup.index import Decision, IndexBatch
from crucible.dedup.memory_index import SnapshotMismatch
from crucible.dedup.params import DedupParams

DEFAULT_PREFIX = "crucible:{dedup}"

# ARGV: prefix, min_matches, num_perm, bands, n, then three binary blobs for the n records
# (exact keys 8 bytes each, signatures 4*num_perm bytes each, band keys 8*bands bytes each),
# then the n record ids. Few arguments and one JSON reply keep the client cheap.
_ASSIGN_LUA = """
local prefix = ARGV[1]
local min_matches = tonumber(ARGV[2])
local num_perm = tonumber(ARGV[3])
local bands = tonumber(ARGV[4])
local n = tonumber(ARGV[5])
local xblob, sblob, bblob = ARGV[6], ARGV[7], ARGV[8]
local sig_len = 4 * num_perm
local band_len = 8 * bands
local out = {}
for i = 1, n do
  local id = ARGV[8 + i]
  local xkey = prefix .. ':x:' .. string.sub(xblob, 8 * i - 7, 8 * i)
  local sig = string.sub(sblob, sig_len * (i - 1) + 1, sig_len * i)
  local rkey = prefix .. ':r:' .. id
  local stored = redis.call('HMGET', rkey, 'c', 'd', 'm', 'e')
  if stored[1] then
    out[#out + 1] = stored[1]; out[#out + 1] = stored[2]; out[#out + 1] = stored[3]; out[#out + 1] = stored[4]
  else
    local cluster, dup, matches, exact = id, '', num_perm, '0'
    local owner = redis.call('GET', xkey)
    local owner_cluster = owner and redis.call('HGET', prefix .. ':r:' .. owner, 'c')
    if owner_cluster then
      dup = owner
      exact = '1'
      cluster = owner_cluster
    else
      redis.call('SET', xkey, id)
      local best, best_m, best_q = nil, -1, nil
      local seen = {}
      local b0 = band_len * (i - 1)
      for j = 1, bands do
        local bkey = prefix .. ':b:' .. string.sub(bblob, b0 + 8 * j - 7, b0 + 8 * j)
        local cand = redis.call('GET', bkey)
        if cand and redis.call('EXISTS', prefix .. ':r:' .. cand) == 0 then
          cand = nil  -- its record was deleted (e.g. a forgotten subject): the key is free again
        end
        if cand then
          if not seen[cand] then
            seen[cand] = true
            local info = redis.call('HMGET', prefix .. ':r:' .. cand, 's', 'q')
            local csig, cq = info[1], tonumber(info[2])
            local m = 0
            for k = 1, sig_len, 4 do
              if string.sub(sig, k, k + 3) == string.sub(csig, k, k + 3) then m = m + 1 end
            end
            if m >= min_matches and (m > best_m or (m == best_m and cq < best_q)) then
              best, best_m, best_q = cand, m, cq
            end
          end
        else
          redis.call('SET', bkey, id)
        end
      end
      if best then
        dup = best
        matches = best_m
        cluster = redis.call('HGET', prefix .. ':r:' .. best, 'c')
      end
    end
    local q = redis.call('INCR', prefix .. ':seq')
    redis.call('HSET', rkey, 'c', cluster, 'd', dup, 'm', matches, 'e', exact, 's', sig, 'q', q)
    out[#out + 1] = cluster; out[#out + 1] = dup; out[#out + 1] = tostring(matches); out[#out + 1] = exact
  end
end
return cjson.encode(out)
"""


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class RedisIndex:
    def __init__(
        self, params: DedupParams, client: Any, prefix: str = DEFAULT_PREFIX, records_per_call: int = 256
    ) -> None:
        self.params = params
        self.client = client
        self.prefix = prefix
        self.records_per_call = records_per_call
        self._assign = client.register_script(_ASSIGN_LUA)
        layout = json.dumps(params.layout(), sort_keys=True)
        client.set(f"{prefix}:layout", layout, nx=True)
        stored = _text(client.get(f"{prefix}:layout"))
        if stored != layout:
            raise SnapshotMismatch(
                f"Redis dedup index {prefix} has layout {stored}, this process uses {layout}; "
                "use another redis_prefix or restore the previous num_perm/seed/bands"
            )

    @classmethod
    def from_url(cls, params: DedupParams, url: str, prefix: str = DEFAULT_PREFIX, **kw: Any) -> RedisIndex:
        import redis

        return cls(params, redis.Redis.from_url(url), prefix, **kw)

    def __len__(self) -> int:
        return int(self.client.get(f"{self.prefix}:seq") or 0)

    def assign(self, batch: IndexBatch) -> list[Decision]:
        out: list[Decision] = []
        p = self.params
        sigs = np.ascontiguousarray(batch.signatures, dtype="<u4")
        xkeys = np.ascontiguousarray(batch.exact_keys, dtype="<u8")
        bkeys = np.ascontiguousarray(batch.band_keys, dtype="<u8")
        for lo in range(0, len(batch), self.records_per_call):
            hi = min(lo + self.records_per_call, len(batch))
            args = [
                self.prefix,
                p.min_matches,
                p.num_perm,
                p.bands,
                hi - lo,
                xkeys[lo:hi].tobytes(),
                sigs[lo:hi].tobytes(),
                bkeys[lo:hi].tobytes(),
                *batch.record_ids[lo:hi],
            ]
            flat = json.loads(self._assign(keys=[], args=args))
            for j in range(0, len(flat), 4):
                out.append(
                    Decision(
                        cluster_id=str(flat[j]),
                        duplicate_of=str(flat[j + 1]),
                        similarity=int(flat[j + 2]) / p.num_perm,
                        exact=str(flat[j + 3]) == "1",
                    )
                )
        return out

    def forget(self, removed: set[str]) -> dict[str, int]:
        """Delete the `removed` records (forgotten subjects) and every key that names them: their
        record hashes, the exact and band keys they claimed (freed for the next record), and the
        cluster or duplicate_of of records that pointed at them (such a record becomes the first
        of its cluster; the rest follows its duplicate_of). One SCAN over the index's keys: a
        forget is rare, and Redis keeps no reverse index from record id to keys."""
        if not removed:
            return {"records": 0, "keys": 0, "repointed": 0}
        wanted = {r.encode() for r in removed}
        records = keys = 0
        hashes: list[bytes] = []
        for key in self.client.scan_iter(match=f"{self.prefix}:*", count=1000):
            kind = key[len(self.prefix) + 1 : len(self.prefix) + 3]
            if kind == b"r:":
                if key[len(self.prefix) + 3 :] in wanted:
                    records += self.client.delete(key)
                else:
                    hashes.append(key)
            elif kind in (b"x:", b"b:") and self.client.get(key) in wanted:
                keys += self.client.delete(key)
        # Records that pointed at a removed one, in insertion order so a cluster's new first
        # record is rewritten before the records that follow it.
        pointing = []
        for key in hashes:
            c, d, q = self.client.hmget(key, "c", "d", "q")
            if c in wanted or d in wanted:
                pointing.append((int(q or 0), key, c, d))
        # The memory index's rule (`MemoryIndex.without`): in a cluster a removed record led, the
        # earliest remaining record leads; others whose duplicate_of is gone become its duplicates;
        # the rest take the (already rewritten) cluster of their duplicate_of.
        leaders: dict[bytes, bytes] = {}
        for _, key, c, d in sorted(pointing):
            rid = key[len(self.prefix) + 3 :]
            if d in wanted:
                leader = leaders.setdefault(c, rid)
                if leader == rid:
                    self.client.hset(key, mapping={"c": rid, "d": "", "m": self.params.num_perm, "e": "0"})
                else:
                    self.client.hset(key, mapping={"c": leader, "d": leader, "e": "0"})
            elif c in wanted:
                self.client.hset(key, "c", self.client.hget(f"{self.prefix}:r:".encode() + d, "c"))
        return {"records": records, "keys": keys, "repointed": len(pointing)}

    def clear(self) -> int:
        """Delete every key of this index (tests, `crucible dedup --reset`-style maintenance)."""
        n = 0
        for key in self.client.scan_iter(match=f"{self.prefix}:*", count=1000):
            n += self.client.delete(key)
        return n
