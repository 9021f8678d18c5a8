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
  <prefix>:x:<hex>      exact key -> first record id with that normalised text
  <prefix>:b:<hex>      LSH band key -> first record id that had that band
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

_ASSIGN_LUA = """
local prefix = ARGV[1]
local min_matches = tonumber(ARGV[2])
local num_perm = tonumber(ARGV[3])
local bands = tonumber(ARGV[4])
local n = tonumber(ARGV[5])
local sig_len = 4 * num_perm
local out = {}
local p = 6
for i = 1, n do
  local id = ARGV[p]
  local xkey = prefix .. ':x:' .. ARGV[p + 1]
  local sig = ARGV[p + 2]
  local rkey = prefix .. ':r:' .. id
  local stored = redis.call('HMGET', rkey, 'c', 'd', 'm', 'e')
  if stored[1] then
    out[#out + 1] = stored[1]; out[#out + 1] = stored[2]; out[#out + 1] = stored[3]; out[#out + 1] = stored[4]
  else
    local cluster, dup, matches, exact = id, '', num_perm, '0'
    local owner = redis.call('GET', xkey)
    if owner then
      dup = owner
      exact = '1'
      cluster = redis.call('HGET', prefix .. ':r:' .. owner, 'c')
    else
      redis.call('SET', xkey, id)
      local best, best_m, best_q = nil, -1, nil
      local seen = {}
      for j = 1, bands do
        local bkey = prefix .. ':b:' .. ARGV[p + 2 + j]
        local cand = redis.call('GET', bkey)
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
  p = p + 3 + bands
end
return out
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
        head = [self.prefix, p.min_matches, p.num_perm, p.bands]
        sigs = np.ascontiguousarray(batch.signatures, dtype="<u4")
        for lo in range(0, len(batch), self.records_per_call):
            hi = min(lo + self.records_per_call, len(batch))
            args: list[Any] = [*head, hi - lo]
            for i in range(lo, hi):
                args.append(batch.record_ids[i])
                args.append(f"{int(batch.exact_keys[i]):016x}")
                args.append(sigs[i].tobytes())
                args.extend(f"{int(k):016x}" for k in batch.band_keys[i])
            flat = self._assign(keys=[], args=args)
            for j in range(0, len(flat), 4):
                matches = int(flat[j + 2])
                out.append(
                    Decision(
                        cluster_id=_text(flat[j]),
                        duplicate_of=_text(flat[j + 1]),
                        similarity=matches / p.num_perm,
                        exact=_text(flat[j + 3]) == "1",
                    )
                )
        return out

    def clear(self) -> int:
        """Delete every key of this index (tests, `crucible dedup --reset`-style maintenance)."""
        n = 0
        for key in self.client.scan_iter(match=f"{self.prefix}:*", count=1000):
            n += self.client.delete(key)
        return n
