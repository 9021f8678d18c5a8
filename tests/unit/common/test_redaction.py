"""Issue 25 item 4: no credential in anything printed or stored. One function masks URL user-info."""

from __future__ import annotations

import io
import json
import logging
from types import SimpleNamespace

from rich.console import Console

from crucible.common.redaction import RedactingFilter, redact, redact_url

SECRET = "s3cr3t-pa55"


def test_passwords_and_bare_tokens_are_masked_and_the_rest_kept() -> None:
    assert redact_url(f"nats://crucible-gateway:{SECRET}@nats:4222") == "nats://crucible-gateway:***@nats:4222"
    assert redact_url(f"postgresql+psycopg://app:{SECRET}@db/prod?sslmode=require") == (
        "postgresql+psycopg://app:***@db/prod?sslmode=require"
    )
    assert redact_url(f"nats://{SECRET}@nats:4222") == "nats://***@nats:4222"  # token auth
    assert redact_url(f"redis://:{SECRET}@redis:6379/0") == "redis://:***@redis:6379/0"
    assert redact_url(f"nats://a:{SECRET}@n1:4222,nats://a:{SECRET}@n2:4222") == (
        "nats://a:***@n1:4222,nats://a:***@n2:4222"
    )
    assert redact_url("sqlite:////home/me/.crucible/registry.db") == "sqlite:////home/me/.crucible/registry.db"
    assert redact_url("s3://bucket/path/with@sign") == "s3://bucket/path/with@sign"
    assert redact_url(f"http://u:{SECRET.replace('-', '%40')}@h/x") == "http://u:***@h/x"


def test_a_summary_is_redacted_everywhere_inside_it() -> None:
    summary = {
        "bus": {"url": f"nats://u:{SECRET}@h:4222"},
        "error": f"OperationalError: could not connect to postgresql://app:{SECRET}@db:5432/x",
        "stages": [{"detail": [f"redis://:{SECRET}@r"]}],
        "count": 3,
    }
    assert SECRET not in json.dumps(redact(summary))
    assert redact(summary)["count"] == 3


def test_log_lines_and_their_tracebacks_are_redacted() -> None:
    from pythonjsonlogger.json import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("test-redaction")
    logger.addHandler(handler)
    try:
        logger.warning("connecting to %s", f"nats://u:{SECRET}@h:4222")
        try:
            raise ConnectionError(f"cannot reach postgresql://app:{SECRET}@db/x")
        except ConnectionError:
            logger.exception("registry down")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert SECRET not in out
    assert "nats://u:***@h:4222" in out and "postgresql://app:***@db/x" in out


def test_setup_logging_installs_the_filter(capsys) -> None:
    from crucible.common import logs

    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        logs.setup_logging(logs.resolve_output(stdout_is_tty=False, json_logs=False))
        logging.getLogger("crucible.x").info("bus at nats://u:%s@h", SECRET)
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])
    err = capsys.readouterr().err
    assert "nats://u:***@h" in err and SECRET not in err


def test_the_run_view_header_prints_no_password(tmp_path) -> None:
    from crucible.common.run_view import RunView

    settings = SimpleNamespace(
        home=tmp_path,
        nats_url=f"nats://crucible-admin:{SECRET}@nats:4222",
        source_url=f"postgresql://reader:{SECRET}@app-db/app",
        resolved_database_url=lambda: f"postgresql://crucible:{SECRET}@db/registry",
    )
    runtime = SimpleNamespace(settings=settings, run_id="r1", policy=SimpleNamespace(source="defaults"))
    out = io.StringIO()
    RunView(runtime, Console(file=out, width=300)).header()  # type: ignore[arg-type]
    text = out.getvalue()
    assert SECRET not in text
    assert "nats://crucible-admin:***@nats:4222" in text and "postgresql://crucible:***@db/registry" in text
