"""The console's HTTP shell: FastAPI routes that check access and CSRF, call the registry, the bus and the
gateway, log every action to the audit log, and render the pure view models (`views.py`) with Jinja2.

Every page needs a logged-in user (viewer or above); every POST needs the session's CSRF token (form
field `csrf` or header `X-CSRF-Token`). Identity comes from trusted proxy headers when configured, else
from the built-in token login kept in a signed session cookie.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from crucible.common import review
from crucible.common.model_view import list_models, show_model
from crucible.console import __version__, access, queries, ratings, views
from crucible.console.gateway_client import GatewayClient, GatewayError
from crucible.console.settings import ConsoleSettings

if TYPE_CHECKING:
    from crucible.common.bus import Bus
    from crucible.common.runtime import Runtime

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
NAV = [("/", "Overview"), ("/review", "Review"), ("/rating", "Rating"), ("/runs", "Runs"),
       ("/datasets", "Datasets"), ("/models", "Models"), ("/rollouts", "Rollouts")]  # fmt: skip

# Scripts and styles only from the console itself (htmx is vendored); no framing, no form posts elsewhere.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")  # fmt: skip


@dataclass
class Console:
    runtime: Runtime
    settings: ConsoleSettings
    bus: Bus | None = None
    gateway: GatewayClient | None = None
    scorer_version: str = "unknown"
    extra: dict[str, Any] = field(default_factory=dict)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_app(console: Console) -> FastAPI:
    settings = console.settings
    registry, artifacts = console.runtime.registry, console.runtime.artifacts
    app = FastAPI(title="Crucible console", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    gateway = console.gateway or GatewayClient(settings.gateway_address, settings.gateway_admin_token)

    def identity(request: Request) -> access.Identity | None:
        if settings.trust_proxy_headers:
            return access.identity_from_headers(
                request.headers,
                user_header=settings.user_header,
                email_header=settings.email_header,
                groups_header=settings.groups_header,
                group_roles=settings.group_roles,
                default_role=settings.default_role,
            )
        user = request.session.get("user")
        if not user:
            return None
        return access.Identity(user=user, role=request.session.get("role", "viewer"), via="token")

    def csrf_token(request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = request.session["csrf"] = access.new_csrf_token()
        return token

    def page(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        who = identity(request)
        flash = request.session.pop("flash", None)
        return templates.TemplateResponse(
            request,
            template,
            {"who": who, "nav": NAV, "csrf": csrf_token(request), "flash": flash, "path": request.url.path, **ctx},
            status_code=status,
        )

    def audit(who: access.Identity | None, action: str, target: str, outcome: str, detail: str = "") -> None:
        queries.audit(registry, who.user if who else "", who.role if who else "", action, target, outcome, detail)
        log.info("console audit: %s %s %s by %s: %s", action, target, outcome, who.user if who else "-", detail)

    async def checked_post(request: Request, role: str, action: str, target: str) -> tuple[access.Identity, dict]:
        """The form, once CSRF and the role are checked; a refusal is audit-logged and raised."""
        form = dict(await request.form())
        given = str(form.get("csrf") or request.headers.get("x-csrf-token") or "")
        who = identity(request)
        if not access.csrf_ok(request.session.get("csrf"), given):
            audit(who, action, target, "refused", "bad or missing CSRF token")
            raise _Refused(403, "The form expired or did not come from this console (CSRF check failed). Reload.")
        try:
            return access.require(who, role), form
        except access.AccessDenied as err:
            audit(who, action, target, "refused", str(err))
            raise _Refused(403, str(err)) from None

    class _Refused(Exception):
        def __init__(self, status: int, message: str) -> None:
            self.status, self.message = status, message

    @app.exception_handler(_Refused)
    async def refused(request: Request, exc: _Refused) -> Response:
        if request.headers.get("accept", "").startswith("application/json"):
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        return page(request, "error.html", status=exc.status, title="Refused", message=exc.message)

    # --- login -------------------------------------------------------------------------------------
    @app.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request) -> Response:
        return page(request, "login.html", title="Log in", proxy=settings.trust_proxy_headers)

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = dict(await request.form())
        if not access.csrf_ok(request.session.get("csrf"), str(form.get("csrf") or "")):
            raise _Refused(403, "The login form expired (CSRF check failed). Reload and try again.")
        user, token = str(form.get("user", "")).strip(), str(form.get("token", ""))
        who = access.identity_from_token(settings.users, user, token)
        if who is None:
            audit(access.Identity(user[:128], "", "token"), "login", user[:128], "refused", "unknown user or token")
            return page(request, "login.html", status=401, title="Log in", error="Unknown user or wrong token.")
        request.session.clear()
        request.session.update({"user": who.user, "role": who.role, "csrf": access.new_csrf_token()})
        audit(who, "login", who.user, "ok")
        nxt = str(form.get("next") or "/")
        if not nxt.startswith("/") or nxt.startswith("//"):  # only back into this console
            nxt = "/"
        return RedirectResponse(nxt, status_code=303)

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        await checked_post(request, "viewer", "logout", "")
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.middleware("http")
    async def require_login(request: Request, call_next: Any) -> Response:
        open_paths = ("/login", "/static/", "/healthz")
        if request.url.path.startswith(open_paths) or request.method == "POST":
            return await call_next(request)
        if identity(request) is None:
            if request.url.path.startswith("/api/"):
                return JSONResponse({"error": "log in first"}, status_code=401)
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return await call_next(request)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # --- overview ----------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse)
    async def overview(request: Request) -> Response:
        counts = queries.review_counts(registry)
        models = list_models(registry)
        return page(
            request,
            "overview.html",
            title="Overview",
            counts=counts,
            runs=[views.run_view(r) for r in queries.runs(registry, limit=3)],
            models=models[-5:][::-1],
            datasets=[views.dataset_view(d) for d in queries.datasets(registry, limit=3)],
            audit=queries.audit_log(registry, limit=10),
        )

    # --- review ------------------------------------------------------------------------------------
    def review_model(request: Request) -> dict[str, Any]:
        try:
            f = views.ReviewFilter.parse(request.query_params)
        except views.BadFilter as err:
            raise _Refused(400, str(err)) from None
        now = _now()
        rows, total = queries.review_page(registry, f, settings.page_size, now)
        return views.review_list(rows, total, f, settings.page_size, now)

    @app.get("/review", response_class=HTMLResponse)
    async def review_list(request: Request) -> Response:
        model = review_model(request)
        return page(request, "review.html", title="Review queue", reasons=queries.review_reasons(registry), **model)

    @app.get("/api/review")
    async def review_list_json(request: Request) -> Response:
        model = review_model(request)
        model["filter"] = model["filter"].__dict__
        return JSONResponse(model)

    @app.get("/review/{record_id}", response_class=HTMLResponse)
    async def review_show(request: Request, record_id: str) -> Response:
        try:
            rec = views.record_view(queries.review_record(registry, record_id), _now())
        except LookupError as err:
            return page(request, "error.html", status=404, title="Not found", message=str(err))
        return page(request, "record.html", title=f"Review {record_id}", rec=rec,
                    next_id=queries.next_pending(registry, record_id))  # fmt: skip

    @app.post("/review/{record_id}/{decision}")
    async def review_decide(request: Request, record_id: str, decision: str) -> Response:
        if decision not in ("approve", "reject"):
            raise _Refused(404, f"no such decision {decision!r}")
        who, form = await checked_post(request, "reviewer", f"review.{decision}", record_id)
        note = str(form.get("note", ""))[:2000]
        try:
            if decision == "approve":
                if console.bus is None:
                    raise _Refused(503, "the console is not connected to the bus; approving needs it")
                await review.approve(registry, console.bus, record_id, by=who.user, note=note,
                                     stage_version=console.scorer_version)  # fmt: skip
            else:
                review.reject(registry, record_id, by=who.user, note=note)
        except review.AlreadyDecided as err:
            audit(who, f"review.{decision}", record_id, "conflict", str(err))
            request.session["flash"] = {"kind": "warn", "text": f"Not recorded: {err}."}
            return RedirectResponse(f"/review/{record_id}", status_code=303)
        except LookupError as err:
            raise _Refused(404, str(err)) from None
        audit(who, f"review.{decision}", record_id, "ok", note)
        verb = "Approved" if decision == "approve" else "Rejected"
        request.session["flash"] = {"kind": "ok", "text": f"{verb} {record_id}."}
        nxt = queries.next_pending(registry, record_id)
        return RedirectResponse(f"/review/{nxt}" if nxt else "/review", status_code=303)

    # --- the loop ----------------------------------------------------------------------------------
    @app.get("/runs", response_class=HTMLResponse)
    async def runs_page(request: Request) -> Response:
        return page(request, "runs.html", title="Runs", runs=[views.run_view(r) for r in queries.runs(registry)])

    @app.get("/datasets", response_class=HTMLResponse)
    async def datasets_page(request: Request) -> Response:
        rows = [
            views.dataset_view(d, queries.manifest_audit(artifacts, d["manifest_uri"]) if k < 5 else None)
            for k, d in enumerate(queries.datasets(registry))
        ]  # the newest five with their manifest's audit (one artifact read each)
        return page(request, "datasets.html", title="Datasets", datasets=rows)

    @app.get("/models", response_class=HTMLResponse)
    async def models_page(request: Request) -> Response:
        return page(request, "models.html", title="Models", models=list_models(registry)[::-1])

    @app.get("/models/{name}", response_class=HTMLResponse)
    async def model_page(request: Request, name: str) -> Response:
        try:
            model = show_model(registry, name)
        except LookupError as err:
            return page(request, "error.html", status=404, title="Not found", message=str(err))
        human = (model.get("evaluation") or {}).get("human_eval") or {}
        return page(request, "model.html", title=f"Model {name}", m=model, human=human, plot=plot_key(name),
                    evaluation_json=json.dumps(model.get("evaluation") or {}, indent=2, default=str))  # fmt: skip

    def plot_key(name: str) -> tuple[str, str] | None:
        """The evaluator's rating plot of a registered model (`evaluations/<name>/rating.png|svg`)."""
        for ext, media in (("png", "image/png"), ("svg", "image/svg+xml")):
            key = f"evaluations/{name}/rating.{ext}"
            if artifacts.exists(key):
                return key, media
        return None

    @app.get("/models/{name}/rating-plot")
    async def model_plot(request: Request, name: str) -> Response:
        try:
            show_model(registry, name)  # only registered names reach the artifact store
        except LookupError as err:
            raise _Refused(404, str(err)) from None
        found = plot_key(name)
        if found is None:
            raise _Refused(404, f"model {name!r} has no rating plot")
        return Response(artifacts.read_bytes(found[0]), media_type=found[1])

    @app.get("/rollouts", response_class=HTMLResponse)
    async def rollouts_page(request: Request) -> Response:
        status, error = None, ""
        try:
            status = await gateway.rollout()
        except GatewayError as err:
            error = str(err)
        history = [(m["name"], r) for m in (show_model(registry, x["name"]) for x in list_models(registry))
                   for r in m.get("rollouts") or []][::-1]  # fmt: skip
        return page(request, "rollouts.html", title="Rollouts", r=views.rollout_view(status), error=error,
                    history=history[:20])  # fmt: skip

    @app.get("/rollouts/confirm/{action}", response_class=HTMLResponse)
    async def rollout_confirm(request: Request, action: str) -> Response:
        if action not in ("promote", "abort"):
            return page(request, "error.html", status=404, title="Not found", message=f"no action {action!r}")
        return page(request, "confirm.html", title=f"Confirm {action}", action=action)

    @app.post("/rollouts/{action}")
    async def rollout_action(request: Request, action: str) -> Response:
        if action not in ("promote", "abort"):
            raise _Refused(404, f"no action {action!r}")
        who, form = await checked_post(request, "operator", f"rollout.{action}", "")
        if form.get("confirm") != "yes":
            raise _Refused(400, f"{action} needs the confirmation step")
        reason = str(form.get("reason", ""))[:500] or f"{action} from the console by {who.user}"
        try:
            status = await (gateway.promote(reason) if action == "promote" else gateway.abort(reason))
        except GatewayError as err:
            audit(who, f"rollout.{action}", "", "failed", str(err))
            request.session["flash"] = {"kind": "warn", "text": str(err)}
            return RedirectResponse("/rollouts", status_code=303)
        audit(who, f"rollout.{action}", status.get("rollout_id", ""), "ok", reason)
        request.session["flash"] = {"kind": "ok", "text": f"{action}: rollout is now {status.get('state')}."}
        return RedirectResponse("/rollouts", status_code=303)

    ratings.add_routes(app, console, page, checked_post, audit, _Refused, identity)
    # Added last so it wraps everything above (the login check reads the session).
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret or secrets.token_hex(32),
        session_cookie="crucible_console",
        same_site="strict",
        https_only=settings.secure_cookies,
        max_age=12 * 3600,
    )
    return app
