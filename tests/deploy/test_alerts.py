"""Alert rules: `promtool check rules` on the rendered PrometheusRule and `promtool test rules` on its logic."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import NAMESPACE, RELEASE, ROOT, by_kind, run, tool

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def groups(operator_objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    [rule] = by_kind(operator_objects, "PrometheusRule").values()
    return rule["spec"]["groups"]


def test_promtool_check_rules(groups: list[dict[str, Any]], tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}))
    proc = run([tool("promtool"), "check", "rules", path])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_promtool_unit_tests(groups: list[dict[str, Any]], tmp_path: Path) -> None:
    bare = [{**g, "rules": [{k: v for k, v in r.items() if k != "annotations"} for r in g["rules"]]} for g in groups]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": bare}))
    shutil.copy(HERE / "alerts_test.yaml", tmp_path / "alerts_test.yaml")
    proc = run([tool("promtool"), "test", "rules", "alerts_test.yaml"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_the_unit_tests_cover_burn_rate_and_dlq() -> None:
    tested = set(re.findall(r"alertname: (\w+)", (HERE / "alerts_test.yaml").read_text()))
    assert {
        "CrucibleGatewayErrorBudgetBurnFast",
        "CrucibleGatewayErrorBudgetBurnSlow",
        "CrucibleGatewayLatencyBudgetBurnFast",
        "CrucibleGatewayLatencyBudgetBurnSlow",
        "CrucibleDLQReceiving",
    } <= tested


def test_every_alert_has_a_runbook_section(groups: list[dict[str, Any]]) -> None:
    runbooks = (ROOT / "docs" / "runbooks.md").read_text()
    headings = {h.lower() for h in re.findall(r"^## (\w+)$", runbooks, flags=re.M)}
    alerts = [r for g in groups for r in g["rules"] if "alert" in r]
    assert len(alerts) >= 12
    for rule in alerts:
        url = rule["annotations"]["runbook_url"]
        assert url.split("#")[0].endswith("docs/runbooks.md")
        assert url.split("#")[1] == rule["alert"].lower() in headings, f"{rule['alert']}: no runbook section"
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}


def test_alert_and_dashboard_metrics_exist_in_the_code(groups: list[dict[str, Any]]) -> None:
    """A rule on a metric nobody exports never fires: every crucible_* name must be defined in the code."""
    sources = "\n".join(
        p.read_text()
        for p in [*ROOT.glob("services/*/src/**/*.py"), *ROOT.glob("libs/common/src/crucible/common/*.py")]
    )
    exported = set(re.findall(r"""["'](crucible_[a-z0-9_]+)["']""", sources))
    exprs = [r["expr"] for g in groups for r in g["rules"]]
    exprs += [
        t["expr"]
        for path in (ROOT / "deploy/helm/crucible/dashboards").glob("*.json")
        for p in yaml.safe_load(path.read_text())["panels"]
        for t in p["targets"]
    ]
    used = {m for e in exprs for m in re.findall(r"\b(crucible_[a-z0-9_]+?)(?:_bucket|_count|_sum)?\b", e)}
    missing = used - exported
    assert not missing, f"metrics used but exported by no service: {sorted(missing)}"


def test_every_rule_sees_only_its_release(groups: list[dict[str, Any]]) -> None:
    """Two releases must never add up: every series selector names this release's namespace and job, and every
    aggregation keeps both labels (so an alert also says which release it is about)."""
    scope = f'namespace="{NAMESPACE}", job="{RELEASE}"'
    for rule in (r for g in groups for r in g["rules"]):
        name = rule.get("alert") or rule["record"]
        expr = rule["expr"]
        if expr.startswith("vector("):  # the recorded SLO budgets: labelled by the rule instead
            assert rule["labels"] == {"namespace": NAMESPACE, "job": RELEASE}, name
            continue
        selectors = re.findall(r"(?<![\w:])((?:crucible[_:]|up\b)[\w:]*)(\{[^}]*\})?", expr)
        assert selectors, name
        for metric, matchers in selectors:
            assert matchers.startswith("{" + scope), f"{name}: {metric} is not scoped to the release"
        for aggregation in re.findall(r"\b(sum|max|min|avg|count)\s*(by\s*\([^)]*\))?\s*\(", expr):
            assert aggregation[1], f"{name}: {aggregation[0]} without `by (namespace, job, ...)`"
            kept = {label.strip() for label in aggregation[1][aggregation[1].index("(") + 1 : -1].split(",")}
            assert {"namespace", "job"} <= kept, f"{name}: {aggregation[0]} {aggregation[1]} drops the release"
