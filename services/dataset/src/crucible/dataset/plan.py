"""Selection and leakage-free splitting over the store's columns in DuckDB (out of core).

The same decisions as `selection` and `splitting` (the in-memory reference, kept as the tests'
oracle), expressed as queries DuckDB runs under a memory limit, spilling to disk:

- one record per dedup cluster: `row_number() over (partition by cluster order by rank) = 1`;
- the synthetic cap on the pool and per split: the best `max_synthetic(...)` synthetic records;
- the category mix: the best `apportion(...)` records of each category;
- leakage groups: connected components (SciPy) of the subject–cluster graph, on dense integer ids;
- the greedy assignment of groups to splits walks the groups in the reference's order
  (largest first, then a seeded hash of the smallest record id), one small row per group.

Rank everywhere is the reference's `Candidate.rank`: quality descending, then the seeded
tie-break, then the record id (DuckDB compares strings byte-wise, as Python does code points).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from crucible.dataset.selection import apportion, category_mix_report, max_synthetic

RANK = "q DESC, tb, rid"
# What the decisions read: the work tables carry only these through their sorts; the audit dimensions
# and the blob spans join back from `cand` once, for the chosen rows.
DECISION_COLUMNS = "i, rid, subj, clu, cat, q, syn, tb, ord"


@dataclass
class Plan:
    """What the queries decided, in the numbers the manifest needs; the chosen rows are table `final`."""

    eligible: int = 0
    duplicates_dropped: int = 0
    synthetic_dropped: int = 0
    mix_report: dict[str, dict[str, Any]] = field(default_factory=dict)
    real: int = 0
    synthetic: int = 0


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> Any:
    row = con.execute(sql, list(params)).fetchone()
    assert row is not None
    return row[0]


def _cap_synthetic_sql(con: duckdb.DuckDBPyConnection, src: str, dst: str, cap: float, partition: str = "") -> int:
    """`dst` = `src` less the synthetic records beyond the cap (per `partition` when given).
    Returns how many were dropped."""
    by = f"PARTITION BY {partition}" if partition else ""
    group = f"GROUP BY {partition}" if partition else ""
    allowed = con.execute(
        f"SELECT {partition + ',' if partition else ''} count(*) FILTER (NOT syn) FROM {src} {group}"
    ).fetchall()
    con.execute(f"CREATE OR REPLACE TEMP TABLE allowed_syn ({partition + ' INTEGER,' if partition else ''} n UBIGINT)")
    rows = [(*r[:-1], min(max_synthetic(int(r[-1]), cap), 2**63 - 1)) for r in allowed]
    if rows:
        con.executemany(f"INSERT INTO allowed_syn VALUES ({', '.join('?' * len(rows[0]))})", rows)
    join = f"USING ({partition})" if partition else "ON TRUE"
    # Only the synthetic rows are ranked (a tenth of the table, not all of it); the rest pass through.
    con.execute(
        f"""CREATE OR REPLACE TABLE {dst} AS
        SELECT * FROM {src} WHERE NOT syn
        UNION ALL
        SELECT s.* EXCLUDE (pos) FROM (
            SELECT *, row_number() OVER ({by} ORDER BY {RANK}) AS pos FROM {src} WHERE syn
        ) s LEFT JOIN allowed_syn a {join}
        WHERE s.pos <= coalesce(a.n, 0)"""
    )
    return int(_scalar(con, f"SELECT count(*) FROM {src}")) - int(_scalar(con, f"SELECT count(*) FROM {dst}"))


def leakage_components(con: duckdb.DuckDBPyConnection, table: str) -> np.ndarray:
    """A group number per row of `table` (in `i` order): rows sharing a subject or a cluster, transitively."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    edges = con.sql(
        f"""SELECT dense_rank() OVER (ORDER BY subj) - 1 AS s, dense_rank() OVER (ORDER BY clu) - 1 AS c, i
        FROM {table} ORDER BY i"""
    ).to_arrow_table()
    s = edges.column("s").to_numpy().astype(np.int64)
    c = edges.column("c").to_numpy().astype(np.int64)
    n_s = int(s.max()) + 1 if len(s) else 0
    n = n_s + (int(c.max()) + 1 if len(c) else 0)
    graph = coo_matrix((np.ones(len(s), dtype=np.int8), (s, c + n_s)), shape=(n, n)).tocsr()
    del c
    _, labels = connected_components(graph, directed=False)
    return np.asarray(labels[s], dtype=np.int64)


def assign_groups(con: duckdb.DuckDBPyConnection, table: str, shares: Mapping[str, float]) -> None:
    """Table `assigned`: `table` plus `split` (an index into `shares`), the reference's greedy
    iterative stratification over leakage groups (`splitting.assign_splits`)."""
    names = list(shares)
    n_total = int(_scalar(con, f"SELECT count(*) FROM {table}"))
    totals = con.execute(f"SELECT cat, syn, count(*) FROM {table} GROUP BY cat, syn").fetchall()
    desired = {s: {(cat, syn): shares[s] * n for cat, syn, n in totals} for s in names}
    desired_total = {s: shares[s] * n_total for s in names}
    ids = con.sql(f"SELECT i FROM {table} ORDER BY i").to_arrow_table()
    groups = leakage_components(con, table)
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    split_of_group = np.full(n_groups, -1, dtype=np.int8)
    con.register("group_of", pa.table({"i": ids.column("i"), "g": pa.array(groups)}))
    del groups, ids
    # The reference sorts groups by (-size, seeded hash of the smallest record id); a group's
    # smallest record id's hash is that record's tie-break. Its original order (smallest id) breaks
    # any remaining tie, as Python's stable sort did.
    reader = con.sql(
        f"""WITH strata AS (
                SELECT g, cat, syn, count(*) AS n FROM {table} JOIN group_of USING (i) GROUP BY g, cat, syn
            ), groups AS (
                SELECT g, count(*) AS size, min(rid) AS first_id, arg_min(tb, rid) AS h
                FROM {table} JOIN group_of USING (i) GROUP BY g
            )
            SELECT g, list(cat ORDER BY cat, syn) AS cats, list(syn ORDER BY cat, syn) AS syns,
                   list(n ORDER BY cat, syn) AS ns
            FROM strata JOIN groups USING (g)
            GROUP BY g, size, h, first_id
            ORDER BY size DESC, h, first_id"""
    ).to_arrow_reader(50_000)
    index = {s: k for k, s in enumerate(names)}
    for batch in reader:
        for g, cats, syns, ns in zip(
            batch.column(0).to_pylist(),
            batch.column(1).to_pylist(),
            batch.column(2).to_pylist(),
            batch.column(3).to_pylist(),
            strict=True,
        ):
            # main stratum: the most frequent, ties to the smallest (category, synthetic).
            best = 0
            for k in range(1, len(ns)):
                if ns[k] > ns[best]:
                    best = k
            main = (cats[best], syns[best])
            target = max(names, key=lambda s: (desired[s][main], desired_total[s], -index[s]))
            for cat, syn, n in zip(cats, syns, ns, strict=True):
                desired[target][(cat, syn)] -= n
            desired_total[target] -= sum(ns)
            split_of_group[g] = index[target]
    con.register("split_of", pa.table({"g": np.arange(n_groups, dtype=np.int64), "split": split_of_group}))
    con.execute(
        f"""CREATE OR REPLACE TABLE assigned AS
        SELECT t.*, CAST(so.split AS INTEGER) AS split
        FROM {table} t JOIN group_of USING (i) JOIN split_of so USING (g)"""
    )
    con.unregister("group_of")
    con.unregister("split_of")


def plan_version(
    con: duckdb.DuckDBPyConnection,
    *,
    category_mix: Mapping[str, float],
    synthetic_cap: float,
    shares: Mapping[str, float],
) -> Plan:
    """From table `cand` (usable records' columns) to table `final` (the chosen rows: cand's columns and split)."""
    plan = Plan(eligible=int(_scalar(con, "SELECT count(*) FROM cand")))
    con.execute(
        f"CREATE OR REPLACE TABLE winners AS SELECT {DECISION_COLUMNS} FROM cand "
        f"QUALIFY row_number() OVER (PARTITION BY clu ORDER BY {RANK}) = 1"
    )
    plan.duplicates_dropped = plan.eligible - int(_scalar(con, "SELECT count(*) FROM winners"))
    plan.synthetic_dropped = _cap_synthetic_sql(con, "winners", "pool", synthetic_cap)
    con.execute("DROP TABLE winners")
    available = dict(con.execute("SELECT cat, count(*) FROM pool GROUP BY cat").fetchall())
    targets = apportion(sum(available.values()), category_mix)
    con.execute("CREATE OR REPLACE TEMP TABLE targets (cat VARCHAR, target UBIGINT)")
    con.executemany("INSERT INTO targets VALUES (?, ?)", list(targets.items()))
    con.execute(
        f"""CREATE OR REPLACE TABLE mixed AS SELECT p.* FROM pool p JOIN targets t USING (cat)
        QUALIFY row_number() OVER (PARTITION BY p.cat ORDER BY {RANK}) <= t.target"""
    )
    con.execute("DROP TABLE pool")
    plan.mix_report = category_mix_report(available, targets, category_mix)
    assign_groups(con, "mixed", shares)
    con.execute("DROP TABLE mixed")
    plan.synthetic_dropped += _cap_synthetic_sql(con, "assigned", "chosen", synthetic_cap, partition="split")
    con.execute("DROP TABLE assigned")
    con.execute(
        f"CREATE OR REPLACE TABLE final AS "
        f"SELECT f.*, c.* EXCLUDE ({DECISION_COLUMNS}) FROM chosen f JOIN cand c USING (i)"
    )
    con.execute("DROP TABLE chosen")
    plan.real, plan.synthetic = con.execute(
        "SELECT count(*) FILTER (NOT syn), count(*) FILTER (syn) FROM final"
    ).fetchone() or (0, 0)
    return plan
