"""The rating pages: blinded pairs from `crucible eval sample`, one at a time, in a per-rater random order;
the rater picks the better answer (or a tie) and may score the seed's traits. Ratings are stored in the
registry (`crucible.common.human_rating`), where `crucible eval ingest --sample ID` unblinds them into the
model's report and its human Bradley-Terry rating; this page shows that rating and each rater's agreement."""

from __future__ import annotations

import contextlib
import random
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crucible.common import human_rating
from crucible.common.model_view import show_model

if TYPE_CHECKING:
    from fastapi import FastAPI

SCALES = (*human_rating.SCALES_1_5, "safety")


def rater_order(item_ids: list[str], rater: str, sample_id: str) -> list[str]:
    """The order this rater sees the sample's items in: random, but stable for the rater (so "next" works)."""
    order = list(item_ids)
    random.Random(f"{sample_id}:{rater}").shuffle(order)
    return order


def next_unrated(order: list[str], done: set[str]) -> str | None:
    return next((i for i in order if i not in done), None)


def human_summary(evaluation: dict[str, Any], sample_id: str) -> dict[str, Any] | None:
    """The ingested human rating of this sample from the model's evaluation (None before any ingest)."""
    he = (evaluation or {}).get("human_eval") or {}
    if he.get("sample_id") != sample_id:
        return None
    return he


def form_ratings(form: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {slot: {s: form.get(f"r{slot}_{s}", "") for s in SCALES} for slot in ("1", "2")}


def add_routes(
    app: FastAPI, console: Any, page: Any, checked_post: Any, audit: Any, refused: type, identity: Any
) -> None:
    runtime = console.runtime

    def sample_or_404(sample_id: str) -> list[dict[str, Any]]:
        try:
            return human_rating.sample_rows(runtime.artifacts, sample_id)
        except human_rating.RatingError as err:
            raise refused(404, str(err)) from None

    @app.get("/rating", response_class=HTMLResponse)
    async def rating_index(request: Request) -> Response:
        samples = human_rating.list_samples(runtime.artifacts)
        for s in samples:
            rows = human_rating.rated_rows(runtime.registry, s["sample_id"])
            s["ratings"] = len(rows)
            s["raters"] = human_rating.rater_agreement(rows)
        return page(request, "rating.html", title="Human rating", samples=samples[::-1])

    @app.get("/rating/{sample_id}", response_class=HTMLResponse)
    async def rating_next(request: Request, sample_id: str) -> Response:
        rows = sample_or_404(sample_id)
        who = identity(request)
        rater = who.user if who else ""
        done = {r["item_id"] for r in human_rating.rated_rows(runtime.registry, sample_id) if r["rater"] == rater}
        order = rater_order([r["item_id"] for r in rows], rater, sample_id)
        item_id = request.query_params.get("item") or next_unrated(order, done)
        evaluation: dict[str, Any] = {}
        key = human_rating.key_key(sample_id)  # read here for the model's name only; never shown
        model_name = runtime.artifacts.read_json(key).get("model_name", "") if runtime.artifacts.exists(key) else ""
        with contextlib.suppress(LookupError):
            evaluation = show_model(runtime.registry, model_name).get("evaluation") or {}
        item = next((r for r in rows if r["item_id"] == item_id), None)
        return page(
            request,
            "rate.html",
            title="Rate answers",
            sample_id=sample_id,
            item=item,
            done=len(done),
            total=len(rows),
            scales=SCALES,
            human=human_summary(evaluation, sample_id),
            automatic=(evaluation.get("metrics") or {}),
        )

    @app.post("/rating/{sample_id}/{item_id}")
    async def rate(request: Request, sample_id: str, item_id: str) -> Response:
        who, form = await checked_post(request, "rater", "rating.submit", f"{sample_id}/{item_id}")
        rows = sample_or_404(sample_id)
        if not any(r["item_id"] == item_id for r in rows):
            raise refused(404, f"no item {item_id!r} in sample {sample_id!r}")
        try:
            human_rating.save_rating(
                runtime.registry, sample_id, item_id, who.user,
                preferred=str(form.get("preferred", "")), ratings=form_ratings(form),
                comment=str(form.get("comment", ""))[:2000],
            )  # fmt: skip
        except human_rating.RatingError as err:
            audit(who, "rating.submit", f"{sample_id}/{item_id}", "refused", str(err))
            request.session["flash"] = {"kind": "warn", "text": f"Not recorded: {err}."}
            return RedirectResponse(f"/rating/{sample_id}?item={item_id}", status_code=303)
        audit(who, "rating.submit", f"{sample_id}/{item_id}", "ok", str(form.get("preferred", "")))
        request.session["flash"] = {"kind": "ok", "text": f"Rated {item_id}."}
        return RedirectResponse(f"/rating/{sample_id}", status_code=303)
