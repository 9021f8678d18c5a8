"""`crucible console token`: make a login token for the console's built-in token login."""

from __future__ import annotations

import json
import secrets
from typing import Annotated

import typer

console_app = typer.Typer(help="The web console (`crucible serve console`).", no_args_is_help=True)


@console_app.command("token")
def token(
    user: Annotated[str, typer.Argument(help="The login name.")],
    role: Annotated[str, typer.Option("--role", help="viewer | reviewer | rater | operator")] = "viewer",
) -> None:
    """Print a new token for USER (give it to them) and the entry for CRUCIBLE_CONSOLE_USERS (store only its hash)."""
    from crucible.console.access import ROLES, token_digest

    if role not in ROLES:
        typer.echo(f"error: role must be one of {', '.join(ROLES)}, got {role!r}", err=True)
        raise typer.Exit(2)
    new = secrets.token_urlsafe(24)
    typer.echo(f"token for {user}: {new}", err=True)
    typer.echo(json.dumps({user: {"role": role, "token_sha256": token_digest(new)}}))


def register_cli(app: typer.Typer) -> None:
    app.add_typer(console_app, name="console")
