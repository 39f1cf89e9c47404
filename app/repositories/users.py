"""Users: profiles by external id, their skills, and the model's view of them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import selectinload

from app import models as m
from app.repositories.base import (
    AnySelect,
    Repository,
    as_utc,
    by_ids,
    place_columns,
    place_of,
    skills_select,
)
from app.repositories.bulk import BulkLoader
from app.repositories.frames import user_frames
from app.schemas import UserIn
from ml.records import UserRecord

UserChange = tuple[str, str, object]  # (user id, "profile" | "event", when or row id)


class UserRepository(Repository):
    def upsert(self, items: Sequence[tuple[str, UserIn]]) -> dict[str, int]:
        """Create or replace users by external id; returns external id -> row id."""
        frames = user_frames(items)  # the last of duplicate ids wins
        return BulkLoader(self.session).users(frames.rows, frames.skills)

    def get(self, external_id: str) -> m.User | None:
        """The user with its place, company and skills loaded (usable after the session
        closes)."""
        return self.session.scalar(
            select(m.User)
            .where(m.User.external_id == external_id)
            .options(
                selectinload(m.User.place),
                selectinload(m.User.company),
                selectinload(m.User.skills),
            )
        )

    def existing(self, external_ids: set[str]) -> set[str]:
        """Those of `external_ids` that are users."""
        return set(self._ids(m.table(m.User), external_ids))

    def version(self, external_id: str) -> tuple[object, ...] | None:
        """What changes whenever the user's profile or events do: (profile written at,
        number of events, newest event row); None for a user the store does not know.
        One indexed read: callers keep what they built from the user under it."""
        row = self.session.execute(_version_select(), {"user": external_id}).one_or_none()
        return None if row is None else tuple(row)

    def records(self, external_ids: Sequence[str] | None = None) -> list[UserRecord]:
        """All users, or those with the given external ids, as model records."""
        one = external_ids is not None
        rows = self._rows(_user_select(by_id=one), external_ids)
        skills = self._skills_by_owner(
            _user_skills_select(by_id=one), [r.id for r in rows] if one else None
        )
        return [
            UserRecord(
                user_id=r.external_id,
                skills=skills.get(r.id, ()),
                headline=r.headline or "",
                place=place_of(r),
                company=r.name,
                desired_salary_usd=r.desired_salary_annual_usd,
            )
            for r in rows
        ]

    def changes(self, since: datetime) -> set[UserChange]:
        """The profile writes (user, "profile", updated_at) and the events (user,
        "event", row id) written at or after `since`: index range scans. A change is the
        same tuple every time it is read, so a poller can tell the new ones."""
        at = {"since": since}
        return {
            (user, "profile", as_utc(when))
            for user, when in self.session.execute(_profiles_since(), at)
        } | {(user, "event", row) for user, row in self.session.execute(_events_since(), at)}


# Read statements are built once: building one costs more than running it on a small
# store, and several run per recommendation request.


@cache
def _user_select(*, by_id: bool) -> AnySelect:
    stmt = (
        select(
            m.User.id,
            m.User.external_id,
            m.User.headline,
            m.User.desired_salary_annual_usd,
            m.Company.name,
            *place_columns(),
        )
        .outerjoin(m.Company, m.Company.id == m.User.company_id)
        .outerjoin(m.Place, m.Place.id == m.User.place_id)
        .order_by(m.User.id)
    )
    return by_ids(stmt, m.User.external_id) if by_id else stmt


@cache
def _version_select() -> AnySelect:
    return (
        select(m.User.updated_at, func.count(m.Interaction.id), func.max(m.Interaction.id))
        .outerjoin(m.Interaction, m.Interaction.user_id == m.User.id)
        .where(m.User.external_id == bindparam("user"))
        .group_by(m.User.id, m.User.updated_at)
    )


@cache
def _user_skills_select(*, by_id: bool) -> AnySelect:
    return skills_select(m.user_skills, "user_id", by_id=by_id)


@cache
def _profiles_since() -> AnySelect:
    return select(m.User.external_id, m.User.updated_at).where(
        m.User.updated_at >= bindparam("since")
    )


@cache
def _events_since() -> AnySelect:
    return (
        select(m.User.external_id, m.Interaction.id)
        .join(m.Interaction, m.Interaction.user_id == m.User.id)
        .where(m.Interaction.created_at >= bindparam("since"))
    )
