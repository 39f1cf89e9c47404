"""The repository layer: every write and read of the store goes through `Store`.

Writes are bulk and idempotent: entities are upserted by their external id, reference
rows (companies, places, skills) are get-or-create, and interactions with an
idempotency key are inserted at most once. The same code serves the API (one row) and
the importers (many rows).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app import models as m
from app.schemas import EventIn, JobIn, UserIn, resolve_location
from ml.locations import Place
from ml.records import Interaction, JobRecord, UserRecord
from ml.skills import canonical_skill
from ml.text import name_key

CHUNK = 500  # rows per statement: below SQLite's bound-parameter limit for every table


def as_utc(value: datetime | None) -> datetime | None:
    """Aware UTC datetime (SQLite returns naive values; they are stored as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _chunks(rows: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


@dataclass(frozen=True)
class CatalogJob:
    """A job as serving sees it: the model's record plus what responses and filters show.

    Salary fields are as posted (`salary_min` per `salary_period` in `salary_currency`);
    the record holds the annualised US-dollar range.
    """

    record: JobRecord
    updated_at: datetime
    salary_min: float | None
    salary_max: float | None
    salary_currency: str | None
    salary_period: str | None
    employment_type: str | None

    @property
    def job_id(self) -> str:
        return self.record.job_id


@dataclass(frozen=True)
class EventRow:
    """An event with resolved external ids, ready to insert."""

    user_id: str
    job_id: str
    type: str
    occurred_at: datetime
    idempotency_key: str | None = None


class UnknownEntityError(LookupError):
    """An event names a user or job that is not in the store."""


class Store:
    """Typed access to the SQL store within one session (the caller commits)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._dialect = session.get_bind().dialect.name

    # -- generic helpers -------------------------------------------------------------------

    def _insert(self, table):
        if self._dialect == "postgresql":
            return postgresql.insert(table)
        if self._dialect == "sqlite":
            return sqlite.insert(table)
        raise RuntimeError(f"unsupported database dialect {self._dialect!r}")

    def _get_or_create(self, table, key_column: str, rows: dict[str, dict]) -> dict[str, int]:
        """Ids of rows by key, inserting the missing ones (safe under concurrency)."""
        if not rows:
            return {}
        key_col = table.c[key_column]
        ids: dict[str, int] = {}
        keys = list(rows)
        for chunk in _chunks(keys):
            ids.update(self.session.execute(
                select(key_col, table.c.id).where(key_col.in_(chunk))).all())
        missing = [rows[k] for k in keys if k not in ids]
        if missing:
            self.session.execute(
                self._insert(table).on_conflict_do_nothing(index_elements=[key_column]),
                missing)
            for chunk in _chunks([k for k in keys if k not in ids]):
                ids.update(self.session.execute(
                    select(key_col, table.c.id).where(key_col.in_(chunk))).all())
        return ids

    def company_ids(self, names: Iterable[str]) -> dict[str, int]:
        """name_key -> company id for display names (created if missing)."""
        rows = {}
        for name in names:
            key = name_key(name)
            if key:
                rows.setdefault(key, {"key": key, "name": name[:200]})
        return self._get_or_create(m.Company.__table__, "key", rows)

    def place_ids(self, places: Iterable[Place]) -> dict[str, int]:
        rows = {}
        for p in places:
            rows.setdefault(p.key, {
                "key": p.key, "city": p.city, "region": p.region, "region_code": p.region_code,
                "country": p.country, "latitude": p.latitude, "longitude": p.longitude,
            })
        return self._get_or_create(m.Place.__table__, "key", rows)

    def skill_ids(self, names: Iterable[str]) -> dict[str, int]:
        rows = {n: {"name": n} for n in names if n}
        return self._get_or_create(m.Skill.__table__, "name", rows)

    def _upsert(self, table, rows: list[dict]) -> dict[str, int]:
        """Insert or update rows by external_id; returns external_id -> id."""
        if not rows:
            return {}
        now = datetime.now(UTC)
        values = [{**r, "updated_at": now, "created_at": now} for r in rows]
        stmt = self._insert(table)
        update = {c: stmt.excluded[c] for c in values[0] if c != "created_at"}
        self.session.execute(
            stmt.on_conflict_do_update(index_elements=["external_id"], set_=update), values)
        return self._ids(table, {r["external_id"] for r in rows})

    def _replace_skills(self, link: m.Table, owner: str, skills: dict[int, list[str]]) -> None:
        skill_ids = self.skill_ids({s for names in skills.values() for s in names})
        owners = list(skills)
        for chunk in _chunks(owners):
            self.session.execute(delete(link).where(link.c[owner].in_(chunk)))
        rows = [{owner: oid, "skill_id": skill_ids[s]}  # names with no words are dropped
                for oid, names in skills.items() for s in dict.fromkeys(names)
                if s in skill_ids]
        if rows:
            self.session.execute(link.insert(), rows)

    # -- jobs and users ------------------------------------------------------------------

    def upsert_jobs(self, items: Sequence[tuple[str, JobIn]]) -> dict[str, int]:
        """Create or replace jobs by external id; returns external id -> row id."""
        items = list(dict(items).items())  # the last of duplicate ids wins
        locations = {ext: resolve_location(job.location, job.remote) for ext, job in items}
        places = self.place_ids(loc.place for loc in locations.values() if loc.place)
        companies = self.company_ids(job.company for _, job in items if job.company)
        rows = []
        for ext, job in items:
            loc = locations[ext]
            salary = job.salary.to_salary() if job.salary else None
            place = loc.place
            rows.append({
                "external_id": ext, "title": job.title, "description": job.description,
                "company_id": companies.get(name_key(job.company)) if job.company else None,
                "place_id": places[place.key] if place else None,
                "latitude": place.latitude if place else None,
                "longitude": place.longitude if place else None,
                "remote": loc.remote,
                "salary_min": salary.minimum if salary else None,
                "salary_max": salary.maximum if salary else None,
                "salary_currency": salary.currency if salary else None,
                "salary_period": salary.period if salary else None,
                "salary_annual_min_usd": salary.annual_min_usd if salary else None,
                "salary_annual_max_usd": salary.annual_max_usd if salary else None,
                "employment_type": job.employment_type,
                "posted_at": job.posted_at, "expires_at": job.expires_at,
                "active": job.active,
            })
        ids = self._upsert(m.Job.__table__, rows)
        self._replace_skills(m.job_skills, "job_id", {
            ids[ext]: sorted({canonical_skill(s) for s in job.skills}) for ext, job in items})
        return ids

    def upsert_users(self, items: Sequence[tuple[str, UserIn]]) -> dict[str, int]:
        """Create or replace users by external id; returns external id -> row id."""
        items = list(dict(items).items())
        locations = {ext: resolve_location(user.location) for ext, user in items}
        places = self.place_ids(loc.place for loc in locations.values() if loc.place)
        companies = self.company_ids(u.current_company for _, u in items if u.current_company)
        rows = []
        for ext, user in items:
            place = locations[ext].place
            desired = user.desired_salary
            rows.append({
                "external_id": ext, "headline": user.headline,
                "place_id": places[place.key] if place else None,
                "company_id": (companies.get(name_key(user.current_company))
                               if user.current_company else None),
                "desired_salary_amount": desired.amount if desired else None,
                "desired_salary_currency": desired.currency if desired else None,
                "desired_salary_period": desired.period if desired else None,
                "desired_salary_annual_usd": desired.annual_usd if desired else None,
            })
        ids = self._upsert(m.User.__table__, rows)
        self._replace_skills(m.user_skills, "user_id", {
            ids[ext]: sorted({canonical_skill(s) for s in user.skills}) for ext, user in items})
        return ids

    def get_job(self, external_id: str) -> m.Job | None:
        return self.session.scalar(select(m.Job).where(m.Job.external_id == external_id))

    def get_user(self, external_id: str) -> m.User | None:
        return self.session.scalar(select(m.User).where(m.User.external_id == external_id))

    # -- interactions ----------------------------------------------------------------------

    def add_events(self, events: Sequence[EventRow | EventIn]) -> int:
        """Insert events; rows whose idempotency key exists are skipped. Returns inserted.

        Raises UnknownEntityError when a user or job id is not in the store.
        """
        rows = [e if isinstance(e, EventRow) else EventRow(
            e.user_id, e.job_id, e.type, e.timestamp or datetime.now(UTC), e.idempotency_key)
            for e in events]
        users = self._ids(m.User.__table__, {r.user_id for r in rows})
        jobs = self._ids(m.Job.__table__, {r.job_id for r in rows})
        unknown_users = sorted({r.user_id for r in rows} - set(users))
        unknown_jobs = sorted({r.job_id for r in rows} - set(jobs))
        if unknown_users or unknown_jobs:
            raise UnknownEntityError(
                f"unknown user ids {unknown_users[:5]}, job ids {unknown_jobs[:5]}")
        now = datetime.now(UTC)
        values = [{"user_id": users[r.user_id], "job_id": jobs[r.job_id], "type": r.type,
                   "occurred_at": r.occurred_at, "idempotency_key": r.idempotency_key,
                   "created_at": now} for r in rows]
        if not values:
            return 0
        table = m.Interaction.__table__
        stmt = (self._insert(table).on_conflict_do_nothing(index_elements=["idempotency_key"])
                .returning(table.c.id))
        return len(self.session.execute(stmt, values).all())

    def existing_ids(self, kind: str, external_ids: set[str]) -> set[str]:
        """Those of `external_ids` that exist as users or jobs (`kind`)."""
        table = {"users": m.User.__table__, "jobs": m.Job.__table__}[kind]
        return set(self._ids(table, external_ids))

    def _ids(self, table, external_ids: set[str]) -> dict[str, int]:
        ids: dict[str, int] = {}
        for chunk in _chunks(sorted(external_ids)):
            ids.update(self.session.execute(select(table.c.external_id, table.c.id).where(
                table.c.external_id.in_(chunk))).all())
        return ids

    # -- reading for training and serving ------------------------------------------------

    def counts(self) -> dict[str, int]:
        return {name: self.session.scalar(select(func.count()).select_from(model)) or 0
                for name, model in (("users", m.User), ("jobs", m.Job),
                                    ("interactions", m.Interaction),
                                    ("companies", m.Company), ("places", m.Place),
                                    ("skills", m.Skill))}

    def _skills_by_owner(self, link, owner: str,
                         owner_ids: Sequence[int] | None = None) -> dict[int, tuple[str, ...]]:
        """Skill names per owner row id (all owners, or those in `owner_ids`)."""
        stmt = _skills_select(link, owner, by_ids=owner_ids is not None)
        out: dict[int, list[str]] = defaultdict(list)
        for owner_id, name in self._rows(stmt, owner_ids):
            out[owner_id].append(name)
        return {k: tuple(v) for k, v in out.items()}

    def training_records(self) -> tuple[list[UserRecord], list[JobRecord], list[Interaction]]:
        """Everything training reads: (users, jobs, interactions)."""
        return self.user_records(), self.job_records(), self.interactions()

    def user_records(self, external_ids: Sequence[str] | None = None) -> list[UserRecord]:
        """All users, or those with the given external ids, as model records."""
        rows = self._rows(_user_select(by_ids=external_ids is not None), external_ids)
        skills = self._skills_by_owner(
            m.user_skills, "user_id", [r.id for r in rows] if external_ids is not None else None)
        return [UserRecord(user_id=r.external_id, skills=skills.get(r.id, ()),
                           headline=r.headline or "", place=_place(r), company=r.name,
                           desired_salary_usd=r.desired_salary_annual_usd)
                for r in rows]

    def _rows(self, stmt, ids: Sequence | None) -> list:
        """Rows of `stmt`: all of them, or (a statement made `by_ids`) those with the
        given ids (external ids, or row ids), a chunk of ids per execution."""
        if ids is None:
            return list(self.session.execute(stmt))
        return [r for chunk in _chunks(list(ids))
                for r in self.session.execute(stmt, {"ids": list(chunk)})]

    def _job_rows(self, external_ids: Sequence[str] | None = None, *,
                  active_only: bool = False):
        """Rows of `_job_select` (every job, the active ones, or those with the given
        ids) and their skills; without ids the rows are most of the table, so all skills
        are read in one scan instead of looked up by job."""
        rows = self._rows(_job_select(active_only=active_only,
                                      by_ids=external_ids is not None), external_ids)
        skills = self._skills_by_owner(m.job_skills, "job_id",
                                       None if external_ids is None else [r.id for r in rows])
        return rows, skills

    def job_records(self, *, active_only: bool = False,
                    external_ids: Sequence[str] | None = None) -> list[JobRecord]:
        """All jobs (or the active ones, or those with the given ids) as model records."""
        rows, skills = self._job_rows(external_ids, active_only=active_only)
        return [_job_record(r, skills.get(r.id, ())) for r in rows]

    def catalog_jobs(self, external_ids: Sequence[str] | None = None) -> list[CatalogJob]:
        """Jobs with what serving needs: model record, display fields, update time.

        Without `external_ids`, the active jobs; with them, those jobs whether active or
        not, so a catalog can apply changes and removals.
        """
        if external_ids is None:
            rows, skills = self._job_rows(active_only=True)
        else:
            rows, skills = self._job_rows(sorted(set(external_ids)))
        return [CatalogJob(record=_job_record(r, skills.get(r.id, ())),
                           updated_at=as_utc(r.updated_at), salary_min=r.salary_min,
                           salary_max=r.salary_max, salary_currency=r.salary_currency,
                           salary_period=r.salary_period, employment_type=r.employment_type)
                for r in rows]

    def job_versions(self, updated_since: datetime) -> list[tuple[str, datetime]]:
        """(external id, updated_at) of every job updated at or after `updated_since`:
        an index range scan, cheap enough to run every second."""
        rows = self.session.execute(_changes_select("job"), {"since": updated_since})
        return [(job_id, as_utc(at)) for job_id, at in rows]

    def user_changes(self, since: datetime) -> set[tuple[str, str, object]]:
        """The profile writes (user, "profile", updated_at) and the events (user,
        "event", row id) written at or after `since`: index range scans. A change is the
        same tuple every time it is read, so a poller can tell the new ones."""
        at = {"since": since}
        return ({(user, "profile", as_utc(when))
                 for user, when in self.session.execute(_changes_select("profile"), at)}
                | {(user, "event", row)
                   for user, row in self.session.execute(_changes_select("event"), at)})

    def interactions(self, user_external_id: str | None = None) -> list[Interaction]:
        """Every interaction (or one user's), oldest first."""
        one = user_external_id is not None
        rows = self.session.execute(_interactions_select(one_user=one),
                                    {"user": user_external_id} if one else {})
        return [Interaction(timestamp=as_utc(r.occurred_at), user_id=r.user, job_id=r.job,
                            type=r.type) for r in rows]


# Read statements are built once: constructing one costs more than running it on a
# small store (0.1-0.3 ms each, several per recommendation request). What they filter
# on is a bound parameter: "ids" (an expanding list) or "user".

def _by_ids(stmt, column):
    return stmt.where(column.in_(bindparam("ids", expanding=True)))


@cache
def _skills_select(link, owner: str, *, by_ids: bool):
    stmt = (select(link.c[owner], m.Skill.name).join(m.Skill, m.Skill.id == link.c.skill_id)
            .order_by(link.c[owner], m.Skill.name))
    return _by_ids(stmt, link.c[owner]) if by_ids else stmt


@cache
def _user_select(*, by_ids: bool):
    stmt = (select(m.User.id, m.User.external_id, m.User.headline,
                   m.User.desired_salary_annual_usd, m.Company.name, *_place_columns())
            .outerjoin(m.Company, m.Company.id == m.User.company_id)
            .outerjoin(m.Place, m.Place.id == m.User.place_id).order_by(m.User.id))
    return _by_ids(stmt, m.User.external_id) if by_ids else stmt


@cache
def _interactions_select(*, one_user: bool):
    stmt = (select(m.User.external_id.label("user"), m.Job.external_id.label("job"),
                   m.Interaction.type, m.Interaction.occurred_at)
            .join(m.User, m.User.id == m.Interaction.user_id)
            .join(m.Job, m.Job.id == m.Interaction.job_id)
            .order_by(m.Interaction.occurred_at, m.Interaction.id))
    return stmt.where(m.User.external_id == bindparam("user")) if one_user else stmt


@cache
def _changes_select(kind: str):
    """What was written at or after the bound "since": jobs (external id, updated_at),
    user profiles (external id, updated_at) or events (user's external id, row id)."""
    since = bindparam("since")
    if kind == "job":
        return select(m.Job.external_id, m.Job.updated_at).where(m.Job.updated_at >= since)
    if kind == "profile":
        return select(m.User.external_id, m.User.updated_at).where(m.User.updated_at >= since)
    return (select(m.User.external_id, m.Interaction.id)
            .join(m.Interaction, m.Interaction.user_id == m.User.id)
            .where(m.Interaction.created_at >= since))


@cache
def _job_select(*, active_only: bool, by_ids: bool):
    """Every column a job record or a catalog job needs, place and company joined."""
    j = m.Job
    stmt = (select(j.id, j.external_id, j.title, j.description, j.remote,
                   j.salary_annual_min_usd, j.salary_annual_max_usd, j.salary_min,
                   j.salary_max, j.salary_currency, j.salary_period, j.employment_type,
                   j.active, j.updated_at, j.latitude.label("job_lat"),
                   j.longitude.label("job_lon"), m.Company.name, *_place_columns())
            .outerjoin(m.Company, m.Company.id == j.company_id)
            .outerjoin(m.Place, m.Place.id == j.place_id).order_by(j.id))
    if active_only:
        stmt = stmt.where(j.active.is_(True))
    return _by_ids(stmt, j.external_id) if by_ids else stmt


def _job_record(r, skills: tuple[str, ...]) -> JobRecord:
    return JobRecord(job_id=r.external_id, title=r.title, description=r.description or "",
                     skills=skills, company=r.name, place=_place(r, r.job_lat, r.job_lon),
                     remote=bool(r.remote), salary_min_usd=r.salary_annual_min_usd,
                     salary_max_usd=r.salary_annual_max_usd, active=bool(r.active))


def _place_columns():
    return (m.Place.city, m.Place.region, m.Place.region_code, m.Place.country,
            m.Place.latitude, m.Place.longitude)


def _place(row, latitude: float | None = None, longitude: float | None = None) -> Place | None:
    if row.city is None and row.region is None and row.country is None:
        return None
    return Place(city=row.city, region=row.region, region_code=row.region_code,
                 country=row.country,
                 latitude=latitude if latitude is not None else row.latitude,
                 longitude=longitude if longitude is not None else row.longitude)
