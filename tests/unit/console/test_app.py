"""The console's HTTP shell in-process: login, CSRF on every POST, roles, proxy identity, bad input."""

import re

import pytest
from fastapi.testclient import TestClient

from crucible.common.registry import AuditEntry, ReviewItem
from crucible.console.access import token_digest
from crucible.console.app import Console, create_app
from crucible.console.bench import seed_review_items
from crucible.console.settings import ConsoleSettings

USERS = {"ana": {"role": "reviewer", "token_sha256": token_digest("t-ana")},
         "vic": {"role": "viewer", "token_sha256": token_digest("t-vic")}}  # fmt: skip


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


@pytest.fixture
def client(runtime) -> TestClient:
    return TestClient(create_app(Console(runtime=runtime, settings=ConsoleSettings(users=USERS))))


def log_in(client: TestClient, user: str) -> str:
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"user": user, "token": f"t-{user}", "csrf": token}, follow_redirects=False)
    assert r.status_code == 303
    return csrf_of(client.get("/").text)


def test_pages_need_a_login_and_a_wrong_token_is_refused(client: TestClient) -> None:
    r = client.get("/review", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert client.get("/api/review").status_code == 401
    token = csrf_of(client.get("/login").text)
    assert client.post("/login", data={"user": "ana", "token": "nope", "csrf": token}).status_code == 401
    assert client.post("/login", data={"user": "ana", "token": "t-ana"}).status_code == 403  # no CSRF token


def test_every_post_needs_the_csrf_token(runtime, client: TestClient) -> None:
    (rid,) = seed_review_items(runtime.registry, 1)
    csrf = log_in(client, "ana")
    r = client.post(f"/review/{rid}/reject", data={"note": "x"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = client.post(f"/review/{rid}/reject", data={"note": "x", "csrf": "forged"})
    assert r.status_code == 403
    with runtime.registry.session() as s:
        assert s.get(ReviewItem, rid).status == "pending"
        assert s.query(AuditEntry).filter_by(action="review.reject", outcome="refused").count() == 2
    r = client.post(f"/review/{rid}/reject", data={"note": "x", "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    with runtime.registry.session() as s:
        assert s.get(ReviewItem, rid).status == "rejected"


def test_a_viewer_cannot_decide(runtime, client: TestClient) -> None:
    (rid,) = seed_review_items(runtime.registry, 1)
    csrf = log_in(client, "vic")
    r = client.post(f"/review/{rid}/reject", data={"csrf": csrf})
    assert r.status_code == 403 and "needs the reviewer role" in r.text
    assert client.get(f"/review/{rid}").status_code == 200  # but may look


def test_a_bad_filter_is_a_clear_400(client: TestClient) -> None:
    log_in(client, "vic")
    r = client.get("/api/review?older_than_hours=soon", headers={"accept": "application/json"})
    assert r.status_code == 400 and "older_than_hours" in r.json()["error"]


def test_identity_from_trusted_proxy_headers(runtime) -> None:
    settings = ConsoleSettings(trust_proxy_headers=True, group_roles={"crucible-ops": "operator"})
    client = TestClient(create_app(Console(runtime=runtime, settings=settings)))
    assert client.get("/", follow_redirects=False).status_code == 303  # no header, no user
    page = client.get("/rollouts", headers={"X-Forwarded-User": "op1", "X-Forwarded-Groups": "crucible-ops"})
    assert page.status_code == 200 and "op1 · operator" in page.text and 'id="promote"' in page.text
    page = client.get("/rollouts", headers={"X-Forwarded-User": "someone"})
    assert "someone · viewer" in page.text and 'id="promote"' not in page.text
