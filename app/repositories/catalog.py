"""What serving reads to build and refresh its catalog: active jobs with their display
fields, and the jobs changed since a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import bindparam, func, select

from app import models as m
from app.repositories.base import AnySelect, Repository, utc
from app.repositories.jobs import JobRepository, job_record
from ml.data import POSITIVE_WEIGHTS
from ml.records import JobRecord


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


class CatalogReader(JobRepository):
    def jobs(self, external_ids: Sequence[str] | None = None) -> list[CatalogJob]:
        """Jobs with what serving needs: model record, display fields, update time.

        Without `external_ids`, the active jobs; with them, those jobs whether active or
        not, so a catalog can apply changes and removals.
        """
        if external_ids is None:
            rows, skills = self.rows(active_only=True)
        else:
            rows, skills = self.rows(sorted(set(external_ids)))
        return [
            CatalogJob(
                record=job_record(r, skills.get(r.id, ())),
                updated_at=utc(r.updated_at),
                salary_min=r.salary_min,
                salary_max=r.salary_max,
                salary_currency=r.salary_currency,
                salary_period=r.salary_period,
                employment_type=r.employment_type,
            )
            for r in rows
        ]

    def active_before(self, at: datetime) -> int:
        """How many active jobs were last updated before `at`."""
        query = select(func.count()).where(m.Job.active, m.Job.updated_at < at)
        return self.session.scalar(query) or 0

    def versions(self, updated_since: datetime) -> list[tuple[str, datetime]]:
        """(external id, updated_at) of every job updated at or after `updated_since`:
        an index range scan, cheap enough to run every second."""
        rows = self.session.execute(_versions_since(), {"since": updated_since})
        return [(job_id, utc(at)) for job_id, at in rows]


@cache
def _versions_since() -> AnySelect:
    return select(m.Job.external_id, m.Job.updated_at).where(m.Job.updated_at >= bindparam("since"))


TRENDING_WEIGHTS = {"click": 1.0, "apply": 3.0}  # an application says more than a click
TRENDING_HALF_LIVES = 6  # events older than this many half-lives are left out (< 2%)


class PopularityReader(Repository):
    """The baselines' signals: how many distinct users had a positive event on each job,
    and each job's recent clicks and applications, decayed by age."""

    def trending(self, now: datetime, half_life: timedelta) -> dict[str, float]:
        """job id -> sum over its clicks and applications of weight * 0.5^(age / half_life)."""
        since = now - TRENDING_HALF_LIVES * half_life
        stmt = (
            select(m.Job.external_id, m.Interaction.type, m.Interaction.occurred_at)
            .join(m.Job, m.Job.id == m.Interaction.job_id)
            .where(m.Interaction.type.in_(tuple(TRENDING_WEIGHTS)))
            .where(m.Interaction.occurred_at >= since)
        )
        scores: dict[str, float] = {}
        unit = half_life.total_seconds()
        for job, kind, at in self.session.execute(stmt):
            age = max(0.0, (now - utc(at)).total_seconds())
            scores[job] = scores.get(job, 0.0) + TRENDING_WEIGHTS[kind] * 0.5 ** (age / unit)
        return scores

    def counts(self) -> dict[str, float]:
        """job id -> distinct users with a view, click, save or apply on it."""
        stmt = (
            select(m.Job.external_id, func.count(func.distinct(m.Interaction.user_id)))
            .join(m.Job, m.Job.id == m.Interaction.job_id)
            .where(m.Interaction.type.in_(tuple(POSITIVE_WEIGHTS)))
            .group_by(m.Job.external_id)
        )
        return {job: float(n) for job, n in self.session.execute(stmt)}
