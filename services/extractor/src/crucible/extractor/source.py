"""Reading the app database through SQLAlchemy (SQLite, PostgreSQL, any dialect).

`SourceDatabase` checks each table against what the mapping needs (a missing table or
column is a `SourceSchemaError` naming it), counts the rows in a window, and reads rows in
(created_at, id) order after a cursor (keyset pagination: the order watermarks rely on).
It also looks up what a chunk of rows needs: authors, partners, couples, a conversation's
messages and linked feedback.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from crucible.extractor.mapping import Couple, Person, SourceRow


@dataclass(frozen=True)
class TableSpec:
    """What the mapping needs from a table: required columns, and optional ones (unknown if absent)."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()


SOURCE_TABLES: dict[str, TableSpec] = {
    "checkins": TableSpec(
        "checkins", ("id", "user_id", "created_at", "reflection", "ai_reply"), ("couple_id", "mood", "connection_score")
    ),
    "activities": TableSpec(
        "activities",
        ("id", "user_id", "created_at", "feedback_text"),
        ("couple_id", "activity_type", "title", "satisfaction_rating", "ai_suggestion"),
    ),
    "quiz_results": TableSpec(
        "quiz_results", ("id", "user_id", "created_at", "quiz_name", "answers"), ("result_summary", "completed")
    ),
    "conversations": TableSpec("conversations", ("id", "user_id", "created_at"), ("couple_id", "topic")),
    "feedback": TableSpec(
        "feedback",
        ("id", "user_id", "created_at", "helpfulness"),
        ("checkin_id", "conversation_id", "activity_id", "action_taken", "positive_outcome", "comment"),
    ),
}

# Tables the mapping looks rows up in.
USERS = TableSpec(
    "users",
    ("id", "first_name", "last_name"),
    ("email", "phone", "street_address", "workplace", "birth_year", "gender", "language", "culture"),
)
COUPLES = TableSpec("couples", ("id", "user_a_id", "user_b_id"), ("relationship_stage", "relationship_type"))
MESSAGES = TableSpec("messages", ("id", "conversation_id", "seq", "role", "content"), ("created_at",))
FEEDBACK_LINKS = TableSpec(
    "feedback",
    ("id", "helpfulness", "created_at"),
    ("checkin_id", "conversation_id", "activity_id", "action_taken", "positive_outcome"),
)
# Which feedback column points at rows of which table.
FEEDBACK_COLUMNS = {"checkins": "checkin_id", "conversations": "conversation_id", "activities": "activity_id"}


class SourceSchemaError(LookupError):
    """A table or column the extraction needs is missing. The message names it."""

    def __init__(self, table: str, message: str) -> None:
        super().__init__(message)
        self.table = table


def target_url(target: str | Path) -> str:
    """A path becomes a SQLite URL; a URL is kept."""
    text = str(target)
    return text if "://" in text else f"sqlite:///{Path(text).resolve()}"


def database_label(url: str) -> str:
    """A name for the source database without credentials (goes into records and watermarks)."""
    return make_url(url).set(password=None).render_as_string(hide_password=True)


def _none_if_blank(value: Any) -> str:
    return "" if value is None else str(value)


@dataclass
class CheckedTable:
    spec: TableSpec
    table: sa.Table
    columns: tuple[str, ...]  # required + the optional ones present

    def select(self) -> sa.Select[Any]:
        return sa.select(*(self.table.c[c] for c in self.columns))


class SourceDatabase:
    def __init__(self, url: str) -> None:
        self.url = url
        self.label = database_label(url)
        self.engine: Engine = sa.create_engine(url)
        self._checked: dict[str, CheckedTable] = {}

    def close(self) -> None:
        self.engine.dispose()

    # --- schema -------------------------------------------------------------------------

    def check(self, spec: TableSpec) -> CheckedTable:
        """Reflect `spec.name` and verify its columns; raise SourceSchemaError naming what is missing."""
        cache_key = f"{spec.name}:{','.join(spec.required)}"
        if cache_key in self._checked:
            return self._checked[cache_key]
        inspector = sa.inspect(self.engine)
        if not inspector.has_table(spec.name):
            raise SourceSchemaError(spec.name, f"table {spec.name!r} does not exist in {self.label}")
        table = sa.Table(spec.name, sa.MetaData(), autoload_with=self.engine)
        present = set(table.c.keys())
        missing = [c for c in spec.required if c not in present]
        if missing:
            raise SourceSchemaError(
                spec.name, f"table {spec.name!r} is missing required column(s) {', '.join(missing)}"
            )
        columns = spec.required + tuple(c for c in spec.optional if c in present)
        checked = CheckedTable(spec, table, columns)
        self._checked[cache_key] = checked
        return checked

    def _bind_time(self, moment: dt.datetime) -> dt.datetime:
        """SQLite stores naive UTC (SQLAlchemy's format); other dialects take aware values."""
        moment = moment.astimezone(dt.UTC)
        return moment.replace(tzinfo=None) if self.engine.dialect.name == "sqlite" else moment

    def _bind_key(self, table: sa.Table, key: str) -> Any:
        try:
            python_type = table.c["id"].type.python_type
        except NotImplementedError:
            return key
        return int(key) if python_type is int else key

    def _after(self, table: sa.Table, cursor: tuple[dt.datetime, str] | None) -> sa.ColumnElement[bool]:
        if cursor is None:
            return sa.true()
        at, key = self._bind_time(cursor[0]), self._bind_key(table, cursor[1])
        created, ident = table.c["created_at"], table.c["id"]
        return sa.or_(created > at, sa.and_(created == at, ident > key))

    # --- counting and reading -----------------------------------------------------------

    def count(self, checked: CheckedTable, since: dt.datetime, after: tuple[dt.datetime, str] | None = None) -> int:
        t = checked.table
        query = sa.select(sa.func.count()).select_from(t).where(t.c["created_at"] >= self._bind_time(since))
        query = query.where(self._after(t, after))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def chunks(
        self,
        checked: CheckedTable,
        since: dt.datetime,
        after: tuple[dt.datetime, str] | None,
        size: int,
    ) -> Iterator[list[dict[str, Any]]]:
        """Rows with created_at >= since and (created_at, id) > after, in that order, `size` at a time."""
        t = checked.table
        cursor_values: tuple[Any, Any] | None = None
        while True:
            query = checked.select().where(t.c["created_at"] >= self._bind_time(since))
            if cursor_values is None:
                query = query.where(self._after(t, after))
            else:
                # Continue from the last row read, with its own values (exact for every dialect).
                last_at, last_id = cursor_values
                query = query.where(
                    sa.or_(t.c["created_at"] > last_at, sa.and_(t.c["created_at"] == last_at, t.c["id"] > last_id))
                )
            query = query.order_by(t.c["created_at"], t.c["id"]).limit(size)
            with self.engine.connect() as conn:
                rows = [dict(r._mapping) for r in conn.execute(query)]
            if not rows:
                return
            yield rows
            cursor_values = (rows[-1]["created_at"], rows[-1]["id"])
            if len(rows) < size:
                return

    # --- lookups ------------------------------------------------------------------------

    def _rows_where_in(self, checked: CheckedTable, column: str, values: Sequence[Any]) -> list[dict[str, Any]]:
        values = [v for v in dict.fromkeys(values) if v is not None]
        if not values:
            return []
        out: list[dict[str, Any]] = []
        with self.engine.connect() as conn:
            for i in range(0, len(values), 500):
                query = checked.select().where(checked.table.c[column].in_(values[i : i + 500]))
                out.extend(dict(r._mapping) for r in conn.execute(query))
        return out

    def people(self, user_ids: Sequence[Any]) -> dict[str, Person]:
        users = self.check(USERS)
        out: dict[str, Person] = {}
        for r in self._rows_where_in(users, "id", user_ids):
            birth = r.get("birth_year")
            out[str(r["id"])] = Person(
                id=str(r["id"]),
                first_name=_none_if_blank(r.get("first_name")).strip(),
                last_name=_none_if_blank(r.get("last_name")).strip(),
                email=_none_if_blank(r.get("email")),
                phone=_none_if_blank(r.get("phone")),
                street_address=_none_if_blank(r.get("street_address")),
                workplace=_none_if_blank(r.get("workplace")),
                birth_year=int(birth)
                if isinstance(birth, int | float) or (isinstance(birth, str) and birth.isdigit())
                else None,
                gender=_none_if_blank(r.get("gender")),
                language=_none_if_blank(r.get("language")),
                culture=_none_if_blank(r.get("culture")),
            )
        return out

    def couples_of(self, user_ids: Sequence[Any]) -> dict[str, tuple[str, Couple]]:
        """user id -> (partner's user id, couple), for users in a couple."""
        try:
            couples = self.check(COUPLES)
        except SourceSchemaError:
            return {}  # no couples table: partners are unknown, rows still map
        rows = self._rows_where_in(couples, "user_a_id", user_ids) + self._rows_where_in(couples, "user_b_id", user_ids)
        out: dict[str, tuple[str, Couple]] = {}
        for r in sorted(rows, key=lambda r: str(r["id"])):
            couple = Couple(_none_if_blank(r.get("relationship_stage")), _none_if_blank(r.get("relationship_type")))
            a, b = str(r["user_a_id"]), str(r["user_b_id"])
            out[a] = (b, couple)
            out[b] = (a, couple)
        return out

    def children(self, spec: TableSpec, column: str, parent_ids: Sequence[Any]) -> dict[str, list[dict[str, Any]]]:
        """Rows of `spec` whose `column` is one of `parent_ids`, grouped by it."""
        checked = self.check(spec)
        if column not in checked.columns:
            raise SourceSchemaError(spec.name, f"table {spec.name!r} is missing column {column}")
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in self._rows_where_in(checked, column, parent_ids):
            grouped[str(r[column])].append(r)
        return grouped


def assemble(
    db: SourceDatabase, table: str, rows: Sequence[Mapping[str, Any]], *, with_feedback: bool = True
) -> list[SourceRow]:
    """Attach to each row what its mapping needs: author, partner, couple, messages, feedback."""
    user_ids = [r.get("user_id") for r in rows]
    couples = db.couples_of(user_ids)
    partner_ids = [couples[str(u)][0] for u in user_ids if str(u) in couples]
    people = db.people(list(user_ids) + partner_ids)
    ids = [r.get("id") for r in rows]
    messages: Mapping[str, list[dict[str, Any]]] = {}
    linked: Mapping[str, list[dict[str, Any]]] = {}
    if table == "conversations":
        messages = db.children(MESSAGES, "conversation_id", ids)
    if with_feedback and table in FEEDBACK_COLUMNS:
        try:
            linked = db.children(FEEDBACK_LINKS, FEEDBACK_COLUMNS[table], ids)
        except SourceSchemaError:
            linked = {}  # no feedback table (or no link column for this table): signals stay unknown
    out: list[SourceRow] = []
    for r in rows:
        uid = str(r.get("user_id"))
        partner_id, couple = couples.get(uid, (None, None))
        out.append(
            SourceRow(
                table=table,
                row=r,
                user=people.get(uid),
                partner=people.get(partner_id) if partner_id else None,
                couple=couple,
                messages=messages.get(str(r.get("id")), []),
                feedback=linked.get(str(r.get("id")), []),
            )
        )
    return out
