"""Interaction events: inserted at most once per idempotency key, read oldest first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from sqlalchemy import bindparam, func, select

from app import models as m
from app.errors import NotFoundError
from app.repositories.base import AnySelect, Repository, utc
from ml.records import Interaction


@dataclass(frozen=True)
class EventRow:
    """An event with the source's ids, ready to insert."""

    user_id: str
    job_id: str
    type: str
    occurred_at: datetime
    idempotency_key: str | None = None
    recommendation_id: str | None = None  # the served slate it follows (`SlateRow.id`)
    position: int | None = None  # the job's place in that slate, 1-based


class EventRepository(Repository):
    def add(self, events: Sequence[EventRow]) -> int:
        """Insert events; those whose idempotency key exists are skipped. Returns how
        many were inserted. Raises NotFoundError when a user or job id is not in the
        store (nothing is written then)."""
        users = self._ids(m.table(m.User), {e.user_id for e in events})
        jobs = self._ids(m.table(m.Job), {e.job_id for e in events})
        unknown_users = sorted({e.user_id for e in events} - set(users))
        unknown_jobs = sorted({e.job_id for e in events} - set(jobs))
        if unknown_users or unknown_jobs:
            raise NotFoundError(f"unknown user ids {unknown_users[:5]}, job ids {unknown_jobs[:5]}")
        if not events:
            return 0
        now = datetime.now(UTC)
        values = [
            {
                "user_id": users[e.user_id],
                "job_id": jobs[e.job_id],
                "type": e.type,
                "occurred_at": e.occurred_at,
                "idempotency_key": e.idempotency_key,
                "recommendation_id": e.recommendation_id,
                "position": e.position,
                "created_at": now,
            }
            for e in events
        ]
        table = m.table(m.Interaction)
        stmt = (
            self._insert(table)
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(table.c.id)
        )
        return len(self.session.execute(stmt, values).all())

    def interactions(self, user_id: str | None = None) -> list[Interaction]:
        """Every interaction (or one user's, by external id), oldest first."""
        one = user_id is not None
        rows = self.session.execute(
            _interactions_select(one_user=one), {"user": user_id} if one else {}
        )
        return [
            Interaction(timestamp=utc(r.occurred_at), user_id=r.user, job_id=r.job, type=r.type)
            for r in rows
        ]

    def per_minute(self, since: datetime) -> list[tuple[datetime, str, int]]:
        """(minute, type, events written in it) since `since`, by the service's clock
        (`created_at`), oldest first."""
        column = m.Interaction.created_at
        minute = (
            func.date_trunc("minute", column)
            if self._dialect == "postgresql"
            else func.strftime("%Y-%m-%d %H:%M:00", column)
        )
        rows = self.session.execute(
            select(minute.label("minute"), m.Interaction.type, func.count())
            .where(column >= since)
            .group_by(minute, m.Interaction.type)
            .order_by(minute, m.Interaction.type)
        )
        return [(_minute(at), kind, count) for at, kind, count in rows]


def _minute(value: datetime | str) -> datetime:
    """A minute as either dialect returns it (PostgreSQL a datetime, SQLite text)."""
    return utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


@cache
def _interactions_select(*, one_user: bool) -> AnySelect:
    stmt = (
        select(
            m.User.external_id.label("user"),
            m.Job.external_id.label("job"),
            m.Interaction.type,
            m.Interaction.occurred_at,
        )
        .join(m.User, m.User.id == m.Interaction.user_id)
        .join(m.Job, m.Job.id == m.Interaction.job_id)
        .order_by(m.Interaction.occurred_at, m.Interaction.id)
    )
    return stmt.where(m.User.external_id == bindparam("user")) if one_user else stmt
