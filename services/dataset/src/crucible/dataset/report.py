"""The human-readable summary of a version: a Markdown page with a category chart and the audit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_BAR_WIDTH = 40


def bar(value: float, maximum: float) -> str:
    filled = round(_BAR_WIDTH * value / maximum) if maximum > 0 else 0
    return "█" * filled + "·" * (_BAR_WIDTH - filled)


def category_chart(mix: Mapping[str, Mapping[str, Any]]) -> str:
    """A text bar chart of selected share vs target share per category (renders in any viewer)."""
    rows = [(name, row["share"], row["target_share"]) for name, row in mix.items()]
    width = max((len(name) for name, _, _ in rows), default=8)
    top = max([1e-9] + [max(s, t) for _, s, t in rows])
    lines = []
    for name, share, target in rows:
        lines.append(f"{name:<{width}}  {bar(share, top)}  {share:6.1%}  (target {target:.0%})")
    return "```\n" + "\n".join(lines) + "\n```"


def render_report(manifest: Mapping[str, Any]) -> str:
    audit = manifest["audit"]
    mix = manifest["selection"]["category_mix"]
    counts = manifest["counts"]
    status = "BELOW TARGET" if audit["below_target"] else "meets target"
    out = [
        f"# Dataset {manifest['version']}",
        "",
        f"Built {manifest['created']} from {manifest['selection']['eligible_records']} eligible curated records; "
        f"{counts['total']} records in the version.",
        "",
        f"**Fairness score: {audit['fairness_score']:.1f} / 100** (target {audit['fairness_target']:g}: {status})",
        "",
        "## Splits",
        "",
        "| split | records | synthetic | synthetic share | synthetic by category |",
        "|---|---:|---:|---:|---|",
    ]
    for split, row in counts["splits"].items():
        by_category = ", ".join(f"{k} {v}" for k, v in row.get("synthetic_by_category", {}).items()) or "-"
        out.append(f"| {split} | {row['total']} | {row['synthetic']} | {row['synthetic_share']:.1%} | {by_category} |")
    out += [
        "",
        "## Category mix",
        "",
        category_chart(mix),
        "",
        "| category | available | target | selected | deficit |",
    ]
    out.append("|---|---:|---:|---:|---:|")
    for name, row in mix.items():
        out.append(f"| {name} | {row['available']} | {row['target']} | {row['selected']} | {row['deficit']} |")
    sel = manifest["selection"]
    out += [
        "",
        "## Selection",
        "",
        f"- duplicates dropped (one record per dedup cluster, highest quality kept): {sel['duplicates_dropped']}",
        f"- synthetic records dropped by the {manifest['policy']['synthetic_cap']:.0%} cap: {sel['synthetic_dropped']}",
        f"- records without a usable user/assistant exchange: {sel['unusable']}",
        "",
        "## Bias audit",
        "",
        f"Formula: {audit['formula']}.",
        "",
        "| dimension | coverage | groups | score | audited |",
        "|---|---:|---|---:|---|",
    ]
    for name, dim in audit["dimensions"].items():
        groups = ", ".join(f"{g} {v['share']:.0%}" for g, v in dim["groups"].items()) or "-"
        out.append(
            f"| {name} | {dim['coverage']:.0%} | {groups} | {dim['score']:.1f} | {'yes' if dim['audited'] else 'no'} |"
        )
    out += ["", "## Recommendations", ""]
    out += [f"- {text}" for text in audit["recommendations"]] or ["- none"]
    out += ["", "## Files", "", "| file | records | sha256 |", "|---|---:|---|"]
    for name, meta in manifest["files"].items():
        out.append(f"| {name} | {meta.get('records', '')} | `{meta['sha256']}` |")
    return "\n".join(out) + "\n"
