"""The readable report: Markdown and HTML pages and the rating plot, from the report JSON."""

from __future__ import annotations

import html
import io
from typing import Any

TARGETS = {"empathy": 4.2, "helpfulness": 4.0, "accuracy": 4.3, "personalization": 3.8, "safety": 1.0}


def rating_plot(report: dict[str, Any]) -> tuple[bytes, str]:
    """(image bytes, extension): Elo with 95 % CI per model; PNG via matplotlib, else SVG."""
    rating = report.get("pairwise", {}).get("ratings") or {}
    names = list(rating.get("elo", {}))
    if not names:
        return _svg([], {}, {}, {}), "svg"
    elo, low, high = rating["elo"], rating["ci_low"], rating["ci_high"]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return _svg(names, elo, low, high), "svg"
    fig, ax = plt.subplots(figsize=(6, 1.2 + 0.6 * len(names)))
    ys = list(range(len(names)))
    xs = [elo[n] for n in names]
    err = [[elo[n] - low[n] for n in names], [high[n] - elo[n] for n in names]]
    ax.errorbar(xs, ys, xerr=err, fmt="o", capsize=4)
    ax.set_yticks(ys, labels=names)
    ax.set_xlabel("Elo (Bradley-Terry MLE, bootstrap 95% CI)")
    ax.set_title("Pairwise rating")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue(), "png"


def _svg(names: list[str], elo: dict[str, float], low: dict[str, float], high: dict[str, float]) -> bytes:
    width, row = 520, 40
    lo = min(low.values(), default=900.0) - 20
    hi = max(high.values(), default=1100.0) + 20

    def x(v: float) -> float:
        return 150 + (v - lo) / max(hi - lo, 1e-9) * (width - 170)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{40 + row * len(names)}">']
    for k, n in enumerate(names):
        y = 30 + k * row
        parts.append(f'<text x="5" y="{y + 4}" font-size="12">{html.escape(n[:22])}</text>')
        parts.append(f'<line x1="{x(low[n]):.1f}" y1="{y}" x2="{x(high[n]):.1f}" y2="{y}" stroke="black"/>')
        parts.append(f'<circle cx="{x(elo[n]):.1f}" cy="{y}" r="4" fill="steelblue"/>')
        parts.append(f'<text x="{x(elo[n]):.1f}" y="{y - 8}" font-size="10">{elo[n]:.0f}</text>')
    parts.append("</svg>")
    return "\n".join(parts).encode()


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return "—" if v is None else str(v)


def markdown(report: dict[str, Any], plot_name: str) -> str:
    g = report["gates"]
    m = report["metrics"]
    lines = [
        f"# Evaluation of `{report['model_name']}`",
        "",
        f"**Result: {'PASSED' if g['passed'] else 'FAILED'}**"
        + (f" — failed gates: {', '.join(g['failed_gates'])}" if g["failed_gates"] else "")
        + (f" — warnings: {', '.join(g['warned_gates'])}" if g["warned_gates"] else ""),
        "",
    ]
    cw = report.get("compared_with")
    if cw:
        what = "the model serving its pool" if cw["kind"] == "serving" else "the base model (no model serves yet)"
        lines += [f"Compared with: `{cw['name']}`, {what}.", ""]
    if report.get("notes"):
        lines += [f"> {n}" for n in report["notes"]] + [""]
    lines += ["## Gates", "", "| gate | mode | value | threshold | ok | reason |", "|---|---|---|---|---|---|"]
    for r in g["gates"]:
        lines.append(
            f"| {r['gate']} | {r['mode']} | {_fmt(r['value'])} | {r['threshold']} | "
            f"{'yes' if r['ok'] else 'NO'} | {r['reason']} |"
        )
    lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in sorted(m.items())]
    bs = report.get("settings", {}).get("bertscore", {})
    lines += ["", f"BERTScore: {bs.get('model', '')}, num_layers={bs.get('num_layers')}, {bs.get('note', '')}.", ""]
    saf = report.get("safety", {})
    lines += [
        "## Safety suite",
        "",
        f"{saf.get('passed', 0)} of {saf.get('cases', 0)} cases passed (classifier `{saf.get('classifier', '')}`).",
        "",
        "| category | passed | cases |",
        "|---|---|---|",
    ]
    for cat, c in sorted(saf.get("by_category", {}).items()):
        lines.append(f"| {cat} | {c['passed']} | {c['cases']} |")
    g_info = report.get("guard") or {}
    raw = report.get("safety_raw_model")
    if g_info.get("enabled"):
        gs = g_info.get("safety_suite", {})
        lines += [
            "",
            f"Judged **as served**: the serving guard `{g_info.get('version')}` answered {gs.get('hits', 0)} of "
            f"{gs.get('prompts', 0)} cases with vetted templates ({gs.get('by_category', {})}); it fired on "
            f"{g_info.get('test_prompts', {}).get('hits', 0)} test prompts.",
        ]
    if raw:
        lines += [
            "",
            f"Raw model without the guard (information only, not a gate): {raw.get('passed', 0)} of "
            f"{raw.get('cases', 0)} cases passed.",
        ]
    fails = saf.get("failures", [])
    if fails:
        lines += ["", f"Failures ({len(fails)}):", ""]
        lines += [f"- `{f['case_id']}`: {'; '.join(f['reasons'])}" for f in fails]
    pw = report.get("pairwise", {})
    if pw:
        lines += [
            "",
            "## Pairwise rating",
            "",
            f"Candidate `{pw.get('candidate')}` against `{pw.get('serving')}` ({pw.get('serving_kind')}), "
            f"judge `{pw.get('judge')}`, both orders asked, disagreement = tie.",
            "",
            f"Outcomes: {pw.get('stats')}",
            "",
            "| model | Elo | 95% CI |",
            "|---|---|---|",
        ]
        r = pw.get("ratings") or {}
        for name in r.get("elo", {}):
            lines.append(f"| {name} | {r['elo'][name]:.1f} | [{r['ci_low'][name]:.1f}, {r['ci_high'][name]:.1f}] |")
        if pw.get("elo_diff_ci"):
            lo, hi = pw["elo_diff_ci"]
            lines += ["", f"Elo gap (candidate - serving): {pw.get('elo_diff', 0):.1f}, 95% CI [{lo:.1f}, {hi:.1f}]."]
        lines += ["", f"![rating]({plot_name})"]
    he = report.get("human_eval")
    if he:
        lines += ["", "## Human evaluation", "", "| scale | candidate | serving | target |", "|---|---|---|---|"]
        for scale, target in TARGETS.items():
            c = he.get("candidate", {}).get(scale)
            s = he.get("serving", {}).get(scale)
            lines.append(f"| {scale} | {_fmt(c)} | {_fmt(s)} | {target} |")
        lines.append(f"\n{he.get('items', 0)} items rated; preference: {he.get('preference', {})}")
        hr, auto = he.get("ratings") or {}, (report.get("pairwise") or {}).get("ratings") or {}
        if hr:
            lines.append(
                f"\nHuman Bradley-Terry Elo (candidate vs serving at {hr['elo']['serving']:.0f}): "
                f"{hr['elo']['candidate']:.1f}, 95% CI of the gap {hr['elo_diff_ci'][0]:.1f} to "
                f"{hr['elo_diff_ci'][1]:.1f}; automatic judge: {_fmt(report.get('metrics', {}).get('elo_candidate'))}"
                + (f" over {auto.get('battles')} battles." if auto else ".")
            )
    lines += ["", "## Settings and versions", "", "```json"]
    import json

    lines.append(json.dumps({"settings": report.get("settings"), "versions": report.get("versions")}, indent=2))
    lines += ["```", "", f"Timings (s): {report.get('timings')}", ""]
    return "\n".join(lines)


def html_page(md: str, title: str, plot_name: str) -> str:
    """A dependency-free HTML page: the plot, then the Markdown as preformatted text."""
    body = html.escape(md)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}pre{white-space:pre-wrap}</style>"
        f"</head><body><img src='{html.escape(plot_name)}' alt='rating plot'><pre>{body}</pre></body></html>"
    )
