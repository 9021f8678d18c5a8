"""Roles in order, identity from a token or from trusted proxy headers, CSRF comparison."""

import pytest

from crucible.console import access

USERS = {
    "ana": {"role": "reviewer", "token_sha256": access.token_digest("s3cret")},
    "op": {"role": "operator", "token": "x"},
}
HEADERS = dict(user_header="X-Forwarded-User", email_header="X-Forwarded-Email", groups_header="X-Forwarded-Groups")


def test_roles_are_ordered_viewer_reviewer_rater_operator() -> None:
    rater = access.Identity("r", "rater", "token")
    assert rater.may("viewer") and rater.may("reviewer") and rater.may("rater") and not rater.may("operator")
    with pytest.raises(access.AccessDenied, match="needs the operator role"):
        access.require(rater, "operator")
    with pytest.raises(access.AccessDenied, match="log in"):
        access.require(None, "viewer")
    with pytest.raises(ValueError, match="unknown role"):
        access.rank("admin")


def test_a_token_logs_in_only_with_the_right_secret() -> None:
    assert access.identity_from_token(USERS, "ana", "s3cret") == access.Identity("ana", "reviewer", "token")
    assert access.identity_from_token(USERS, "ana", "wrong") is None
    assert access.identity_from_token(USERS, "ana", "") is None
    assert access.identity_from_token(USERS, "nobody", "s3cret") is None
    assert access.identity_from_token(USERS, "op", "x").role == "operator"  # a plain token works too


def test_proxy_headers_give_the_highest_mapped_role() -> None:
    roles = {"crucible-raters": "rater", "crucible-ops": "operator"}
    who = access.identity_from_headers(
        {"x-forwarded-user": "bo", "X-Forwarded-Groups": "staff, crucible-raters"}, group_roles=roles,
        default_role="viewer", **HEADERS,
    )  # fmt: skip
    assert who == access.Identity("bo", "rater", "proxy")
    who = access.identity_from_headers(
        {"X-Forwarded-Email": "cy@example.org", "X-Forwarded-Groups": "crucible-ops,crucible-raters"},
        group_roles=roles, default_role="viewer", **HEADERS,
    )  # fmt: skip
    assert who.user == "cy@example.org" and who.role == "operator"
    plain = access.identity_from_headers(
        {"X-Forwarded-User": "dee"}, group_roles=roles, default_role="viewer", **HEADERS
    )
    assert plain.role == "viewer"
    assert access.identity_from_headers({}, group_roles=roles, default_role="viewer", **HEADERS) is None


def test_csrf_tokens_must_match_and_exist() -> None:
    token = access.new_csrf_token()
    assert access.csrf_ok(token, token)
    assert not access.csrf_ok(token, token + "x")
    assert not access.csrf_ok(None, token) and not access.csrf_ok(token, "") and not access.csrf_ok("", "")
