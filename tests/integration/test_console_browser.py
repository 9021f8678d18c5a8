"""The web console in a real headless Chromium (Debian's, driven by Playwright's Python API; nothing is
downloaded): a reviewer approves one held record and rejects another (checked on the bus and in the
registry), a second reviewer is told the item was decided, a rater rates five blinded pairs and sees the
human rating move, a viewer's promote is refused, every page's screenshot shows its heading, and a name
planted in a raw record appears on no page.

One nats-server, one console (uvicorn in a thread) and one browser serve the whole module.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bus_reading import batch_records, drain_messages

from crucible.common import lifecycle, subjects
from crucible.common.bus import Bus
from crucible.common.config import Settings
from crucible.common.embedded import EmbeddedNats, free_port
from crucible.common.registry import AuditEntry, DatasetVersion, ModelVersion, ReviewItem, Run
from crucible.common.runtime import Runtime
from crucible.common.stage import Rejection, StageResult
from crucible.console.access import token_digest
from crucible.console.app import Console, create_app
from crucible.console.bench import seed_review_items
from crucible.console.settings import ConsoleSettings
from crucible.v1 import records_pb2

CHROMIUM = "/usr/bin/chromium"
PLANTED = ("Tomasz Okonkwo", "Okonkwo", "tomasz.okonkwo@example.org")
MODEL = "crucible-v2-20261204-tiny"
USERS = {
    "ana": "reviewer",
    "bo": "reviewer",
    "rita": "rater",
    "vic": "viewer",
    "ola": "operator",
}
PAGES = {
    "/": "Overview",
    "/review": "Review queue",
    "/rating": "Human rating",
    "/runs": "Runs",
    "/datasets": "Dataset versions",
    "/models": "Models",
    "/rollouts": "Rollouts",
}

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


def _held_pii_record(runtime: Runtime) -> str:
    """A raw record with a planted name, through the real scrubber, then held by the scorer's own sink."""
    from crucible.scorer.store import ScorerSink
    from crucible.scrubber.service import build_stage

    raw = records_pb2.Record(record_id="pii-held", subject_token="tok-pii")
    raw.turns.add(role="user", text=f"I'm {PLANTED[0]} ({PLANTED[2]}). My partner hides my phone and I feel unsafe.")
    raw.turns.add(role="assistant", text="I'm glad you told me. Are you safe right now?")
    raw.private_context["known_entities"] = json.dumps({"User": [PLANTED[0], "Tomasz", PLANTED[1]]})
    raw.private_context["known_identifiers"] = json.dumps([PLANTED[2]])
    assert PLANTED[1] in raw.turns[0].text  # the name is really there before scrubbing
    (scrubbed,) = build_stage(runtime).stage.process([raw]).kept
    detail = {"total": 6.8, "threshold": 7.0, "components": {"engagement": 2.0}, "issues": [],
              "category": "safety_ethics", "review": ["safety:unsafe_environment"],
              "safety": {"unsafe_environment": 0.91}}  # fmt: skip
    ScorerSink(runtime.registry).persist(
        StageResult(held=[Rejection(scrubbed, "flagged_for_review", json.dumps(detail, sort_keys=True))])
    )
    return scrubbed.record_id


def _seed_loop(runtime: Runtime) -> None:
    """A run, a dataset version and two models with a lifecycle, as the pipeline writes them."""
    summary = {"stages": [
        {"stage": "scrubber", "in": 120, "out": 117, "rejected": {"residual_pii": 3}, "held": {}, "dlq": {}},
        {"stage": "scorer", "in": 117, "out": 80, "rejected": {"below_quality": 30}, "held": {"flagged_for_review": 7}},
    ]}  # fmt: skip
    with runtime.registry.session() as s:
        s.add(Run(run_id="20261204T100000Z-abc123", status="succeeded", summary=summary,
                  finished_at=dt.datetime.now(dt.UTC)))  # fmt: skip
        audit = {"fairness_score": 88.5, "dimensions": {"age_band": {"score": 77.0, "gaps": [
            {"group": "65+", "count": 1, "share": 0.0125, "parity_share": 0.2, "records_needed": 7}]}},
            "recommendations": ["age_band: 65+ is below parity; 7 more records would lift it."]}  # fmt: skip
        manifest_uri = runtime.artifacts.write_json("datasets/v1_20261204/manifest.json", {"audit": audit})
        s.add(DatasetVersion(version="v1_20261204", seq=1, fairness_score=88.5, manifest_uri=manifest_uri, counts={
            "total": 80, "splits": {"train": 72, "validation": 4, "test": 4},
            "by_category": {"instruction_following": 30, "contextual_understanding": 20, "empathetic_dialogue": 18,
                            "personalization": 8, "safety_ethics": 4}, "deficits": {"safety_ethics": 0}}))  # fmt: skip
        for seq, (name, status) in enumerate((("crucible-v1-20261203-tiny", "trained"), (MODEL, "trained")), 1):
            mv = ModelVersion(name=name, seq=seq, base_model="tiny-base", dataset_version="v1_20261204", status=status)
            s.add(mv)
            s.flush()
            lifecycle.record_created(s, mv, reason="training succeeded", actor="trainer")
        lifecycle.transition(s, "crucible-v1-20261203-tiny", "evaluated", reason="gates passed", actor="evaluator")
        lifecycle.transition(s, "crucible-v1-20261203-tiny", "canary", reason="rollout started", actor="gateway")
        lifecycle.transition(s, "crucible-v1-20261203-tiny", "serving", reason="promoted", actor="gateway")
        lifecycle.transition(s, MODEL, "evaluated", reason="gates passed", actor="evaluator")
        s.get(ModelVersion, MODEL).evaluation = {"passed": True, "metrics": {"elo_candidate": 1012.0, "bleu": 0.4},
                                                 "failed_gates": [], "warned_gates": []}  # fmt: skip


def _seed_rating_sample(runtime: Runtime, out: Path) -> str:
    """The model's evaluation report and answers as the evaluator stores them, then the real
    `crucible eval sample` export (blinded rows + key)."""
    from crucible.evaluator.human_eval import export_sample

    prefix = f"evaluations/{MODEL}"
    answers = [
        {"example_id": f"ex{k}", "prompt": [{"role": "system", "content": "coach"},
                                            {"role": "user", "content": f"We argue about chores, week {k}. Ideas?"}],
         "candidate": f"Try a shared chore chart and a weekly check-in ({k}).", "serving": f"Chores are hard ({k})."}
        for k in range(8)
    ]  # fmt: skip
    runtime.artifacts.write_text(f"{prefix}/answers.jsonl", "".join(json.dumps(a) + "\n" for a in answers))
    runtime.artifacts.write_json(f"{prefix}/report.json", {
        "model_name": MODEL, "metrics": {"elo_candidate": 1012.0, "bleu": 0.4},
        "compared_with": {"name": "crucible-v1-20261203-tiny", "kind": "serving"},
        "gates": {"passed": True, "failed_gates": [], "warned_gates": [], "gates": []}})  # fmt: skip
    return export_sample(runtime, MODEL, 5, 3, out)["sample_id"]


class ConsoleServer:
    """The console app under uvicorn in a thread with its own event loop and bus connection."""

    def __init__(self, runtime: Runtime, settings: ConsoleSettings, nats_url: str) -> None:
        self.runtime, self.settings, self.nats_url = runtime, settings, nats_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: Any = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        import uvicorn

        bus = await Bus.connect(self.nats_url, self.runtime.policy.bus)
        app = create_app(Console(runtime=self.runtime, settings=self.settings, bus=bus, scorer_version="0.1.0"))
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.server.install_signal_handlers = lambda: None
        await self.server.serve()
        await bus.close()

    def __enter__(self) -> ConsoleServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not (self.server is not None and self.server.started):
            assert time.monotonic() < deadline and self.thread.is_alive(), "the console did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("console-home")
    runtime = Runtime.create(Settings(home=home, subject_secret="console-test", log_json=False))
    pii_id = _held_pii_record(runtime)
    queued = seed_review_items(runtime.registry, 6)
    _seed_loop(runtime)
    sample_id = _seed_rating_sample(runtime, home / "sample.jsonl")
    settings = ConsoleSettings(
        users={u: {"role": role, "token_sha256": token_digest(f"token-{u}")} for u, role in USERS.items()},
        session_secret="test-session-secret",
    )
    with EmbeddedNats() as nats, ConsoleServer(runtime, settings, nats.url) as console:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            yield {"runtime": runtime, "nats": nats.url, "url": console.url, "browser": browser,
                   "queued": queued, "pii_id": pii_id, "sample_id": sample_id}  # fmt: skip
            browser.close()
    runtime.registry.dispose()


def login(world: dict[str, Any], user: str) -> Any:
    page = world["browser"].new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(world["url"] + "/review")  # redirected to the login form
    assert page.locator("h1").inner_text() == "Log in"
    page.fill("input[name=user]", user)
    page.fill("input[name=token]", f"token-{user}")
    page.click("button[type=submit]")
    page.wait_for_url(world["url"] + "/review")
    assert f"{user} · {USERS[user]}" in page.locator(".who").inner_text()
    return page


def in_thread(make_coro: Any) -> Any:
    """Run a coroutine to its end on a fresh loop in another thread (Playwright's sync API holds this one's)."""
    out: list[Any] = []
    worker = threading.Thread(target=lambda: out.append(asyncio.run(make_coro())))
    worker.start()
    worker.join(timeout=60)
    return out[0]


def status_of(world: dict[str, Any], record_id: str) -> tuple[str, str]:
    with world["runtime"].registry.session() as s:
        item = s.get(ReviewItem, record_id)
        return item.status, item.decided_by


def test_reviewer_approves_one_and_rejects_one(world: dict[str, Any], tmp_path: Path) -> None:
    page = login(world, "ana")
    first, second = world["queued"][0], world["queued"][1]
    page.goto(f"{world['url']}/review/{first}")
    page.fill("#note", "fine on a second read")
    page.click("#approve")
    page.wait_for_url(f"{world['url']}/review/{second}")  # on to the next pending item
    assert f"Approved {first}" in page.locator(".flash").inner_text()
    page.fill("#note", "not useful for training")
    page.locator("body").click()  # leave the note field: the shortcut is for the page
    page.keyboard.press("r")
    page.wait_for_selector(".flash")
    assert f"Rejected {second}" in page.locator(".flash").inner_text()
    page.screenshot(path=str(tmp_path / "decided.png"))
    assert status_of(world, first) == ("approved", "ana")
    assert status_of(world, second) == ("rejected", "ana")

    async def published() -> list[tuple[str, str]]:
        bus = await Bus.connect(world["nats"], world["runtime"].policy.bus)
        try:
            msgs = await drain_messages(bus, subjects.SCORED, subjects.STREAM_RECORDS, "console-test-reader")
            return [(m.headers.get("Nats-Msg-Id"), r.record_id) for m in msgs for r in batch_records(m)]
        finally:
            await bus.close()

    # Exactly as `crucible review approve` publishes: the approved one, with the scorer's msg id.
    assert in_thread(published) == [(f"{first}:scorer", first)]
    with world["runtime"].registry.session() as s:
        actions = {(a.actor, a.action, a.target, a.outcome) for a in s.query(AuditEntry)}
    assert {("ana", "review.approve", first, "ok"), ("ana", "review.reject", second, "ok")} <= actions


def test_the_second_reviewer_is_told_the_item_was_decided(world: dict[str, Any]) -> None:
    item = world["queued"][3]
    ana, bo = login(world, "ana"), login(world, "bo")
    ana.goto(f"{world['url']}/review/{item}")
    bo.goto(f"{world['url']}/review/{item}")  # both see it pending
    ana.click("#approve")
    ana.wait_for_selector(".flash")
    bo.click("#reject")
    bo.wait_for_selector(".flash")
    assert "is already approved by ana" in bo.locator(".flash").inner_text()
    assert status_of(world, item) == ("approved", "ana")


def test_a_rater_rates_five_pairs_and_sees_the_rating_move(world: dict[str, Any]) -> None:
    from crucible.evaluator.human_eval import ingest_sample

    runtime, sample_id = world["runtime"], world["sample_id"]
    key = runtime.artifacts.read_json(f"evaluations/human_eval/{sample_id}.json")["items"]
    page = login(world, "rita")
    page.goto(world["url"] + "/rating")
    page.click(f"#rate-{sample_id}")
    assert page.locator("#human-rating").inner_text().startswith("No human rating")
    shown = []
    for n in range(5):
        action = page.locator("#rate-form").get_attribute("action")
        item_id = action.rsplit("/", 1)[-1]
        assert "candidate" not in page.content() and "serving model" not in page.content()  # blinded
        want = "serving" if n < 2 else "candidate"  # two for the serving model first, then three for the candidate
        slot = next(s for s in ("1", "2") if key[item_id][s] == want)
        page.select_option("select[name=r1_empathy]", "4")
        page.keyboard.press(slot) if n % 2 else page.click(f"#prefer-{slot}")
        page.wait_for_selector(".flash")
        if n in (1, 4):
            ingest_sample(runtime, sample_id)  # `crucible eval ingest --sample ID`
            page.reload()
            shown.append(page.locator("#human-rating b").inner_text())
    assert page.locator("#all-rated").is_visible()
    before, after = float(shown[0]), float(shown[1])
    assert before < 1000 < after  # the serving model led after two judgements; the candidate after five
    with runtime.registry.session() as s:
        he = s.get(ModelVersion, MODEL).evaluation["human_eval"]
    assert he["preference"] == {"candidate": 3, "serving": 2, "tie": 0} and he["raters"]["rita"]["rated"] == 5
    assert "Human Bradley-Terry Elo" in runtime.artifacts.read_text(f"evaluations/{MODEL}/report.md")
    page.goto(f"{world['url']}/models/{MODEL}")  # human beside automatic, and the report's rating plot
    assert page.locator("#human-elo").inner_text() == shown[1]
    assert page.locator("img.plot").evaluate("img => img.complete && img.naturalWidth > 0")


def test_a_viewer_cannot_promote(world: dict[str, Any]) -> None:
    page = login(world, "vic")
    page.goto(world["url"] + "/rollouts")
    assert page.locator("#promote").count() == 0 and "need the operator role" in page.content()
    page.goto(world["url"] + "/rollouts/confirm/promote")
    page.fill("input[name=reason]", "let me try")
    page.click("#confirm")
    page.wait_for_selector("h1:text('Refused')")
    assert "needs the operator role" in page.locator(".error").inner_text()
    with world["runtime"].registry.session() as s:
        refused = s.query(AuditEntry).filter_by(actor="vic", action="rollout.promote").one()
    assert refused.outcome == "refused"
    operator = login(world, "ola")
    operator.goto(world["url"] + "/rollouts")
    assert operator.locator("#promote").is_visible()


def test_every_page_screenshot_shows_its_heading(world: dict[str, Any], tmp_path: Path) -> None:
    from PIL import Image

    page = login(world, "ola")
    for path, heading in {**PAGES, f"/review/{world['pii_id']}": f"Review {world['pii_id']}",
                          f"/models/{MODEL}": f"Model {MODEL}"}.items():  # fmt: skip
        page.goto(world["url"] + path)
        assert page.locator("h1").inner_text() == heading, path
        if path == "/datasets":  # the manifest's audit: the group below parity and what to do
            assert "65+" in page.locator("table").nth(1).inner_text() and "7 more records" in page.content()
        shot = tmp_path / (path.strip("/").replace("/", "_") or "overview")
        page.screenshot(path=str(shot.with_suffix(".png")), full_page=True)
        page.locator("h1").screenshot(path=str(shot.with_suffix(".h1.png")))
        with Image.open(shot.with_suffix(".png")) as img:
            assert img.size[0] == 1280 and img.size[1] >= 400
            assert len(img.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 50, path  # drawn, not blank
        with Image.open(shot.with_suffix(".h1.png")) as h1:  # the heading itself is on the picture: ink on paper
            gray = h1.convert("L")
            assert gray.size[0] > 40 and min(gray.getdata()) < 80 and max(gray.getdata()) > 200, path
    keep = os.environ.get("CRUCIBLE_CONSOLE_SCREENSHOTS")
    if keep:  # for a person to look at
        shutil.copytree(tmp_path, keep, dirs_exist_ok=True)


def test_no_page_shows_the_planted_name(world: dict[str, Any]) -> None:
    page = login(world, "ola")
    seen = []
    for path in [*PAGES, f"/review/{world['pii_id']}", "/review?status=all", f"/models/{MODEL}",
                 f"/rating/{world['sample_id']}"]:  # fmt: skip
        page.goto(world["url"] + path)
        html = page.content()
        for planted in PLANTED:
            assert planted not in html, (path, planted)
        seen.append(html)
    record_page = seen[len(PAGES)]
    assert "[User]" in record_page or "[Person]" in record_page  # the scrubbed text is what is shown
