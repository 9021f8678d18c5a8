"""Generates the Grafana dashboards (pipeline, training, gateway and rollout) as JSON.

Run `make dashboards` (this file) after editing; tests/deploy checks the committed JSON matches and that every
query names a metric the services export. Grafana's sidecar loads the files from the ConfigMaps the chart makes of
them (label grafana_dashboard).

Every dashboard has `namespace` and `job` variables (the ServiceMonitors set job = the Helm release), and every
Crucible series in a query is scoped to them by `scoped()`, applied to each target: write a panel's PromQL plainly,
e.g. `sum by (variant) (rate(crucible_gateway_x_total[$__rate_interval]))`, and keep `namespace, job` out of it.
Thresholds come from the chart's values through recording rules (crucible:gateway_error_budget, ...), never as
constants in a query.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
DS = {"type": "prometheus", "uid": "${datasource}"}
SCOPE = 'namespace="$namespace", job="$job"'
# A Crucible metric or recording rule, with its label matchers if it has any.
_SERIES = re.compile(r"(?<![\w:$])(crucible[_:][A-Za-z0-9_:]*)(?:\{([^}]*)\})?")


def scoped(expr: str) -> str:
    """Add this dashboard's namespace and job matchers to every Crucible series in `expr`."""

    def add(m: re.Match[str]) -> str:
        matchers = m.group(2)
        return f"{m.group(1)}{{{SCOPE}{', ' + matchers if matchers else ''}}}"

    return _SERIES.sub(add, expr)


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
            {"refId": chr(ord("A") + i), "datasource": DS, "expr": scoped(expr), "legendFormat": legend}
            for i, (expr, legend) in enumerate(targets)
        ],
    }


def _query_variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": query,
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "current": {},
        "hide": 0,
        "includeAll": False,
        "multi": False,
    }


def _dashboard(uid: str, title: str, panels: list[dict[str, Any]], description: str, *, anchor: str) -> dict[str, Any]:
    """`anchor`: a series every release of this dashboard's services exports, to list namespaces and jobs."""
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
                },
                _query_variable("namespace", "Namespace", f"label_values({anchor}, namespace)"),
                _query_variable("job", "Release (job)", f'label_values({anchor}{{namespace="$namespace"}}, job)'),
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
        anchor="crucible_stage_consumer_lag_messages",
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
        "LoRA/QLoRA training jobs: loss, throughput, progress; GPU panels need NVIDIA's dcgm-exporter (its series "
        "carry the exporter's labels, so they are matched on the trainer pods' names, not on namespace and job).",
        anchor="crucible_train_step",
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
                        (
                            "crucible:gateway_error_ratio:rate1h / on (namespace, job) crucible:gateway_error_budget",
                            "1h",
                        ),
                        (
                            "crucible:gateway_error_ratio:rate6h / on (namespace, job) crucible:gateway_error_budget",
                            "6h",
                        ),
                    ],
                    {},
                ),
                (
                    "Latency budget burn rate (requests slower than the SLO threshold)",
                    [
                        (
                            "crucible:gateway_slow_ratio:rate1h / on (namespace, job) crucible:gateway_latency_budget",
                            "1h",
                        ),
                        (
                            "crucible:gateway_slow_ratio:rate6h / on (namespace, job) crucible:gateway_latency_budget",
                            "6h",
                        ),
                    ],
                    {},
                ),
                (
                    "A/B by variant: advice acceptance, feedback rate, positive outcomes",
                    [
                        (
                            "sum by (variant) (rate(crucible_gateway_feedback_advice_accepted_total[1h]))"
                            " / sum by (variant) (rate(crucible_gateway_feedback_score_count[1h]))",
                            "advice accepted {{variant}}",
                        ),
                        (
                            "sum by (variant) (rate(crucible_gateway_feedback_score_count[1h]))"
                            " / sum by (variant) (rate(crucible_gateway_requests_total[1h]))",
                            "feedback rate {{variant}}",
                        ),
                        (
                            'sum by (variant) (rate(crucible_gateway_feedback_outcomes_total{outcome="positive"}[1h]))'
                            " / sum by (variant) (rate(crucible_gateway_feedback_outcomes_total[1h]))",
                            "positive outcomes {{variant}}",
                        ),
                    ],
                    {"unit": "percentunit"},
                ),
            ]
        ),
        "Serving: stable vs canary traffic, errors, latency, time to first token, satisfaction, rollout decisions. "
        "Burn rates divide by the SLO budgets the chart's PrometheusRule records from its values.",
        anchor="crucible_rollout_weight",
    )


DASHBOARDS = {"pipeline": pipeline, "training": training, "gateway": gateway}


def render() -> dict[str, str]:
    return {name: json.dumps(build(), indent=2, sort_keys=True) + "\n" for name, build in DASHBOARDS.items()}


if __name__ == "__main__":
    for name, text in render().items():
        (HERE / f"{name}.json").write_text(text)
