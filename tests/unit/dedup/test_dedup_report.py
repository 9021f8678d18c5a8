from __future__ import annotations

from crucible.dedup.report import build_report, decision_row, report_counts


def test_report_counts_clusters_and_pairs_once_per_record() -> None:
    rows = [
        decision_row("a", "a", "", 1.0, False),
        decision_row("b", "a", "a", 0.9, False),
        decision_row("c", "a", "b", 1.0, True),
        decision_row("d", "d", "", 1.0, False),
        decision_row("b", "a", "a", 0.9, False),  # redelivered
    ]
    report = build_report(rows, threshold=0.85)
    assert report_counts(report) == {
        "threshold": 0.85,
        "records": 4,
        "unique": 2,
        "duplicates": 2,
        "exact_duplicates": 1,
        "near_duplicates": 1,
        "clusters_with_duplicates": 1,
        "largest_cluster": 3,
        "cluster_sizes": {"1": 1, "3": 1},
    }
    assert report["clusters"] == [{"cluster_id": "a", "size": 3, "members": ["a", "b", "c"]}]
    assert [p["record_id"] for p in report["pairs"]] == ["b", "c"]


def test_an_empty_report() -> None:
    assert report_counts(build_report([])) == {
        "threshold": None,
        "records": 0,
        "unique": 0,
        "duplicates": 0,
        "exact_duplicates": 0,
        "near_duplicates": 0,
        "clusters_with_duplicates": 0,
        "largest_cluster": 0,
        "cluster_sizes": {},
    }
