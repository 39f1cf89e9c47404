"""Jobs: postings by external id, their skills, and the model's view of them."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app import models as m
from app.repositories.base import (
    AnySelect,
    Repository,
    by_ids,
    place_columns,
    place_of,
    skills_select,
)
from app.repositories.bulk import BulkLoader
from app.repositories.frames import job_frames
from app.schemas import JobIn
from ml.records import JobRecord


class JobRepository(Repository):
    def upsert(self, items: Sequence[tuple[str, JobIn]]) -> dict[str, int]:
        """Create or replace jobs by external id; returns external id -> row id."""
        frames = job_frames(items)  # the last of duplicate ids wins
        return BulkLoader(self.session).jobs(frames.rows, frames.skills)

    def get(self, external_id: str) -> m.Job | None:
        """The job with its place, company and skills loaded (usable after the session
        closes)."""
        return self.session.scalar(
            select(m.Job)
            .where(m.Job.external_id == external_id)
            .options(
                selectinload(m.Job.place), selectinload(m.Job.company), selectinload(m.Job.skills)
            )
        )

    def existing(self, external_ids: set[str]) -> set[str]:
        """Those of `external_ids` that are jobs."""
        return set(self._ids(m.table(m.Job), external_ids))

    def rows(
        self, external_ids: Sequence[str] | None = None, *, active_only: bool = False
    ) -> tuple[list[Any], dict[int, tuple[str, ...]]]:
        """Rows of `job_select` (every job, the active ones, or those with the given
        ids) and their skills by row id; without ids the rows are most of the table, so
        all skills are read in one scan instead of looked up by job."""
        one = external_ids is not None
        rows = self._rows(job_select(active_only=active_only, by_id=one), external_ids)
        skills = self._skills_by_owner(
            _job_skills_select(by_id=one), [r.id for r in rows] if one else None
        )
        return rows, skills

    def records(
        self, *, active_only: bool = False, external_ids: Sequence[str] | None = None
    ) -> list[JobRecord]:
        """All jobs (or the active ones, or those with the given ids) as model records."""
        rows, skills = self.rows(external_ids, active_only=active_only)
        return [job_record(r, skills.get(r.id, ())) for r in rows]


def job_record(r: Any, skills: tuple[str, ...]) -> JobRecord:
    """The model's record of a `job_select` row."""
    return JobRecord(
        job_id=r.external_id,
        title=r.title,
        description=r.description or "",
        skills=skills,
        company=r.name,
        place=place_of(r, r.job_lat, r.job_lon),
        remote=bool(r.remote),
        salary_annual_min_usd=r.salary_annual_min_usd,
        salary_annual_max_usd=r.salary_annual_max_usd,
        active=bool(r.active),
    )


@cache
def job_select(*, active_only: bool, by_id: bool) -> AnySelect:
    """Every column a job record or a catalog job needs, place and company joined (built
    once: building a statement costs more than running it on a small store)."""
    j = m.Job
    stmt = (
        select(
            j.id,
            j.external_id,
            j.title,
            j.description,
            j.remote,
            j.salary_annual_min_usd,
            j.salary_annual_max_usd,
            j.salary_min,
            j.salary_max,
            j.salary_currency,
            j.salary_period,
            j.employment_type,
            j.active,
            j.updated_at,
            j.latitude.label("job_lat"),
            j.longitude.label("job_lon"),
            m.Company.name,
            *place_columns(),
        )
        .outerjoin(m.Company, m.Company.id == j.company_id)
        .outerjoin(m.Place, m.Place.id == j.place_id)
        .order_by(j.id)
    )
    if active_only:
        stmt = stmt.where(j.active.is_(True))
    return by_ids(stmt, j.external_id) if by_id else stmt


@cache
def _job_skills_select(*, by_id: bool) -> AnySelect:
    return skills_select(m.job_skills, "job_id", by_id=by_id)
