"""Generates the Grafana dashboards (pipeline, training, gateway and rollout) as JSON.

Run `python deploy/helm/crucible/dashboards/build.py` after editing; tests/deploy checks the committed JSON
matches and that every query names a metric the services export. Grafana's sidecar loads the files from the
ConfigMaps the chart makes of them (label grafana_dashboard).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
DS = {"type": "prometheus", "uid": "${datasource}"}


def _panel(
    pid: int,
    title: str,
    targets: list[tuple[str, str]],
    x: int,
    y: int,
    *,
    unit: str = "short",
    kind: str = "timeseries",
    w: int = 12,
    h: int = 8,
    description: str = "",
) -> dict[str, Any]:
    return {
        "id": pid,
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]}},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DS, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(targets)
        ],
    }


def _dashboard(uid: str, title: str, panels: list[dict[str, Any]], description: str) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["crucible"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                }
            ]
        },
        "annotations": {"list": []},
        "panels": panels,
    }


def _quantile(q: float, by: str, metric: str) -> str:
    return f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket[$__rate_interval])))"


def _grid(specs: list[tuple]) -> list[dict[str, Any]]:
    """Two panels per row, in order."""
    return [
        _panel(i + 1, title, targets, (i % 2) * 12, (i // 2) * 8, **opts)
        for i, (title, targets, opts) in enumerate(specs)
    ]


def pipeline() -> dict[str, Any]:
    rate = "[$__rate_interval]"
    return _dashboard(
        "crucible-pipeline",
        "Crucible / Pipeline",
        _grid(
            [
                (
                    "Records per stage and outcome",
                    [(f"sum by (stage, outcome) (rate(crucible_stage_records_total{rate}))", "{{stage}} {{outcome}}")],
                    {"unit": "reqps"},
                ),
                (
                    "Rejections by stage and reason",
                    [(f"sum by (stage, reason) (rate(crucible_stage_rejections_total{rate}))", "{{stage}} {{reason}}")],
                    {"unit": "reqps"},
                ),
                (
                    "Consumer lag (messages waiting)",
                    [("max by (stage) (crucible_stage_consumer_lag_messages)", "{{stage}}")],
                    {},
                ),
                (
                    "Records to the DLQ (last hour)",
                    [('sum by (stage) (increase(crucible_stage_records_total{outcome="dlq"}[1h]))', "{{stage}}")],
                    {},
                ),
                (
                    "Batch time p95",
                    [
                        (
                            _quantile(0.95, "stage", "crucible_stage_batch_seconds"),
                            "{{stage}}",
                        )
                    ],
                    {"unit": "s"},
                ),
                (
                    "Redeliveries",
                    [(f"sum by (stage) (rate(crucible_stage_redeliveries_total{rate}))", "{{stage}}")],
                    {"unit": "reqps"},
                ),
            ]
        ),
        "Records through extractor -> scrubber -> scorer -> dedup -> dataset: throughput, rejections, lag, DLQ.",
    )


def training() -> dict[str, Any]:
    return _dashboard(
        "crucible-training",
        "Crucible / Training",
        _grid(
            [
                (
                    "Loss",
                    [("crucible_train_loss", "train {{pod}}"), ("crucible_train_eval_loss", "validation {{pod}}")],
                    {},
                ),
                ("Tokens per second", [("crucible_train_tokens_per_second", "{{pod}}")], {}),
                (
                    "Progress",
                    [("crucible_train_step / clamp_min(crucible_train_total_steps, 1)", "{{pod}}")],
                    {"unit": "percentunit"},
                ),
                ("Time to finish", [("crucible_train_eta_seconds", "{{pod}}")], {"unit": "s"}),
                ("Learning rate", [("crucible_train_learning_rate", "{{pod}}")], {}),
                (
                    "Jobs finished (last day)",
                    [("sum by (status) (increase(crucible_train_jobs_total[1d]))", "{{status}}")],
                    {},
                ),
                (
                    "Evaluations (last day)",
                    [
                        ("sum by (result) (increase(crucible_evaluations_total[1d]))", "{{result}}"),
                        ("sum by (gate) (increase(crucible_evaluation_gate_failures_total[1d]))", "failed: {{gate}}"),
                    ],
                    {},
                ),
                (
                    "GPU utilisation (DCGM exporter)",
                    [('avg by (pod, gpu) (DCGM_FI_DEV_GPU_UTIL{pod=~".*trainer.*"})', "{{pod}} gpu{{gpu}}")],
                    {"unit": "percent"},
                ),
                (
                    "GPU memory used (DCGM exporter)",
                    [('sum by (pod, gpu) (DCGM_FI_DEV_FB_USED{pod=~".*trainer.*"})', "{{pod}} gpu{{gpu}}")],
                    {"unit": "decmbytes"},
                ),
            ]
        ),
        "LoRA/QLoRA training jobs: loss, throughput, progress; GPU panels need NVIDIA's dcgm-exporter.",
    )


def gateway() -> dict[str, Any]:
    rate = "[$__rate_interval]"
    return _dashboard(
        "crucible-gateway",
        "Crucible / Gateway and rollout",
        _grid(
            [
                (
                    "Traffic split (configured weight)",
                    [("max by (variant) (crucible_rollout_weight)", "{{variant}}")],
                    {"unit": "percent"},
                ),
                (
                    "Requests by variant",
                    [(f"sum by (variant) (rate(crucible_gateway_requests_total{rate}))", "{{variant}}")],
                    {"unit": "reqps"},
                ),
                (
                    "Error ratio by variant",
                    [
                        (
                            f'sum by (variant) (rate(crucible_gateway_requests_total{{code=~"5.."}}{rate}))'
                            f" / sum by (variant) (rate(crucible_gateway_requests_total{rate}))",
                            "{{variant}}",
                        )
                    ],
                    {"unit": "percentunit"},
                ),
                (
                    "Latency p50 / p95 by variant",
                    [
                        (
                            _quantile(0.5, "variant", "crucible_gateway_request_duration_seconds"),
                            "p50 {{variant}}",
                        ),
                        (
                            _quantile(0.95, "variant", "crucible_gateway_request_duration_seconds"),
                            "p95 {{variant}}",
                        ),
                    ],
                    {"unit": "s"},
                ),
                (
                    "Time to first token p95 by variant",
                    [
                        (
                            f"histogram_quantile(0.95, sum by (variant, le) "
                            f"(rate(crucible_gateway_time_to_first_token_seconds_bucket{rate})))",
                            "{{variant}}",
                        )
                    ],
                    {"unit": "s"},
                ),
                (
                    "Satisfaction (mean rating 1-10) by variant",
                    [
                        (
                            "sum by (variant) (rate(crucible_gateway_feedback_score_sum[1h]))"
                            " / sum by (variant) (rate(crucible_gateway_feedback_score_count[1h]))",
                            "{{variant}}",
                        )
                    ],
                    {},
                ),
                (
                    "Rollout state (decisions)",
                    [("max by (state) (crucible_rollout_state) > 0", "{{state}}")],
                    {"kind": "state-timeline"},
                ),
                (
                    "Generated tokens per second by variant",
                    [(f"sum by (variant) (rate(crucible_gateway_generated_tokens_total{rate}))", "{{variant}}")],
                    {},
                ),
                (
                    "Safety guard: requests answered with a vetted template, by category",
                    [(f"sum by (category) (rate(crucible_gateway_guarded_total{rate}))", "{{category}}")],
                    {"unit": "reqps"},
                ),
                (
                    "Answer safety: incidents by variant and category (shared answer judge)",
                    [
                        (
                            f"sum by (variant, category) (rate(crucible_gateway_safety_incidents_total{rate}))",
                            "{{variant}} {{category}}",
                        ),
                        (f"sum by (variant) (rate(crucible_gateway_safety_checked_total{rate}))", "{{variant}} read"),
                    ],
                    {"unit": "reqps"},
                ),
                (
                    "Error budget burn rate (availability)",
                    [
                        ("crucible:gateway_error_ratio:rate1h / 0.005", "1h"),
                        ("crucible:gateway_error_ratio:rate6h / 0.005", "6h"),
                    ],
                    {},
                ),
                (
                    "Slow-request ratio (latency SLO)",
                    [("crucible:gateway_slow_ratio:rate1h", "1h"), ("crucible:gateway_slow_ratio:rate6h", "6h")],
                    {"unit": "percentunit"},
                ),
            ]
        ),
        "Serving: stable vs canary traffic, errors, latency, time to first token, satisfaction, rollout decisions.",
    )


DASHBOARDS = {"pipeline": pipeline, "training": training, "gateway": gateway}


def render() -> dict[str, str]:
    return {name: json.dumps(build(), indent=2, sort_keys=True) + "\n" for name, build in DASHBOARDS.items()}


if __name__ == "__main__":
    for name, text in render().items():
        (HERE / f"{name}.json").write_text(text)
