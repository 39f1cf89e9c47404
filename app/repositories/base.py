"""What every repository shares: the session, dialect-aware inserts, reads in chunks of
ids, get-or-create of the reference rows (companies, places, skills) and upserts by
external id. Writes are bulk and idempotent; the caller (a service) commits."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Select, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from app import models as m
from ml.locations import Place
from ml.text import name_key

CHUNK = 500  # rows per statement: below SQLite's bound-parameter limit for every table
T = TypeVar("T")
AnySelect = Select[*tuple[Any, ...]]  # a SELECT of any columns


def as_utc(value: datetime | None) -> datetime | None:
    """Aware UTC datetime (SQLite returns naive values; they are stored as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc(value: datetime) -> datetime:
    """`as_utc` of a value that is never NULL."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def chunks(rows: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def by_ids(stmt: AnySelect, column: ColumnElement[Any] | QueryableAttribute[Any]) -> AnySelect:
    """`stmt` for the rows whose `column` is in the bound, expanding list "ids"."""
    return stmt.where(column.in_(bindparam("ids", expanding=True)))


def place_of(
    row: Any, latitude: float | None = None, longitude: float | None = None
) -> Place | None:
    """The place of a row with the place columns (`place_columns`), or None."""
    if row.city is None and row.region is None and row.country is None:
        return None
    return Place(
        city=row.city,
        region=row.region,
        region_code=row.region_code,
        country=row.country,
        latitude=latitude if latitude is not None else row.latitude,
        longitude=longitude if longitude is not None else row.longitude,
    )


def place_columns() -> tuple[Any, ...]:
    return (
        m.Place.city,
        m.Place.region,
        m.Place.region_code,
        m.Place.country,
        m.Place.latitude,
        m.Place.longitude,
    )


class Repository:
    """Typed access to the store within one session (the caller commits)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._dialect = session.get_bind().dialect.name

    def _insert(self, table: Table) -> Any:
        if self._dialect == "postgresql":
            return postgresql.insert(table)
        if self._dialect == "sqlite":
            return sqlite.insert(table)
        raise RuntimeError(f"unsupported database dialect {self._dialect!r}")

    def _rows(self, stmt: AnySelect, ids: Sequence[Any] | None) -> list[Any]:
        """Rows of `stmt`: all of them, or (a statement made `by_ids`) those with the
        given ids (external ids, or row ids), a chunk of ids per execution."""
        if ids is None:
            return list(self.session.execute(stmt))
        return [
            r
            for chunk in chunks(list(ids))
            for r in self.session.execute(stmt, {"ids": list(chunk)})
        ]

    def _ids(self, table: Table, external_ids: Iterable[str]) -> dict[str, int]:
        """external id -> row id of those of `external_ids` in `table`."""
        ids: dict[str, int] = {}
        for chunk in chunks(sorted(set(external_ids))):
            ids.update(
                self.session.execute(
                    select(table.c.external_id, table.c.id).where(table.c.external_id.in_(chunk))
                ).all()
            )
        return ids

    def _get_or_create(
        self, table: Table, key_column: str, rows: dict[str, dict[str, Any]]
    ) -> dict[str, int]:
        """Ids of rows by key, inserting the missing ones (safe under concurrency)."""
        if not rows:
            return {}
        key_col = table.c[key_column]
        ids: dict[str, int] = {}
        keys = list(rows)
        for chunk in chunks(keys):
            ids.update(
                self.session.execute(select(key_col, table.c.id).where(key_col.in_(chunk))).all()
            )
        missing = [rows[k] for k in keys if k not in ids]
        if missing:
            self.session.execute(
                self._insert(table).on_conflict_do_nothing(index_elements=[key_column]), missing
            )
            for chunk in chunks([k for k in keys if k not in ids]):
                ids.update(
                    self.session.execute(
                        select(key_col, table.c.id).where(key_col.in_(chunk))
                    ).all()
                )
        return ids

    def company_ids(self, names: Iterable[str]) -> dict[str, int]:
        """name_key -> company id for display names (created if missing)."""
        rows: dict[str, dict[str, Any]] = {}
        for name in names:
            key = name_key(name)
            if key:
                rows.setdefault(key, {"key": key, "name": name[:200]})
        return self._get_or_create(m.table(m.Company), "key", rows)

    def place_ids(self, places: Iterable[Place]) -> dict[str, int]:
        """place key -> place id (created if missing)."""
        rows: dict[str, dict[str, Any]] = {}
        for p in places:
            rows.setdefault(
                p.key,
                {
                    "key": p.key,
                    "city": p.city,
                    "region": p.region,
                    "region_code": p.region_code,
                    "country": p.country,
                    "latitude": p.latitude,
                    "longitude": p.longitude,
                },
            )
        return self._get_or_create(m.table(m.Place), "key", rows)

    def _skills_by_owner(
        self, stmt: AnySelect, owner_ids: Sequence[int] | None
    ) -> dict[int, tuple[str, ...]]:
        """Skill names per owner row id, from a `skills_select` statement."""
        out: dict[int, list[str]] = {}
        for owner_id, name in self._rows(stmt, owner_ids):
            out.setdefault(owner_id, []).append(name)
        return {k: tuple(v) for k, v in out.items()}


def skills_select(link: Table, owner: str, *, by_id: bool) -> AnySelect:
    """(owner row id, skill name) of every owner, or of the bound "ids"."""
    stmt = (
        select(link.c[owner], m.Skill.name)
        .join(m.Skill, m.Skill.id == link.c.skill_id)
        .order_by(link.c[owner], m.Skill.name)
    )
    return by_ids(stmt, link.c[owner]) if by_id else stmt


def counts(session: Session) -> dict[str, int]:
    """Rows per table of the store."""
    return {
        name: session.scalar(select(func.count()).select_from(model)) or 0
        for name, model in (
            ("users", m.User),
            ("jobs", m.Job),
            ("interactions", m.Interaction),
            ("companies", m.Company),
            ("places", m.Place),
            ("skills", m.Skill),
        )
    }
