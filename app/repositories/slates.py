"""Served slates: written in batches by the slate log, read by experiment reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from app import models as m
from app.repositories.base import Repository, by_ids, chunks, utc


@dataclass(frozen=True)
class SlateRow:
    """One /recommend answer as served: its jobs best first (position p is `items[p-1]`)."""

    id: str  # the recommendation_id
    user_id: str
    model_version: str
    items: tuple[tuple[str, float], ...]  # (job id, score)
    filters: dict[str, Any]  # the request's filters and k, as plain JSON values
    served_at: datetime
    experiment: str | None = None
    variant: str | None = None


class SlateRepository(Repository):
    def add(self, slates: Sequence[SlateRow]) -> int:
        """Insert slates (one written before, e.g. by a retried batch, is skipped);
        returns how many were new."""
        table = m.table(m.Slate)
        written = 0
        for chunk in chunks(slates):
            values = [
                {
                    "id": s.id,
                    "user_id": s.user_id,
                    "model_version": s.model_version,
                    "experiment": s.experiment,
                    "variant": s.variant,
                    "items": [list(item) for item in s.items],
                    "filters": s.filters,
                    "served_at": s.served_at,
                }
                for s in chunk
            ]
            stmt = (
                self._insert(table)
                .on_conflict_do_nothing(index_elements=["id"])
                .returning(table.c.id)
            )
            written += len(self.session.execute(stmt, values).all())
        return written

    def get(self, slate_id: str) -> SlateRow | None:
        row = self.session.get(m.Slate, slate_id)
        if row is None:
            return None
        return SlateRow(
            id=row.id,
            user_id=row.user_id,
            model_version=row.model_version,
            items=tuple((str(job), float(score)) for job, score in row.items),
            filters=row.filters,
            served_at=utc(row.served_at),
            experiment=row.experiment,
            variant=row.variant,
        )

    def count(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(m.Slate)) or 0)


class ExperimentData(Repository):
    """What an experiment report reads: its slates, the events attributed to them, and
    the companies of the jobs served."""

    def slates(self, experiment: str) -> list[dict[str, Any]]:
        """id, user_id, variant, items ([[job_id, score], ...]) per slate, oldest first."""
        rows = self.session.execute(
            select(m.Slate.id, m.Slate.user_id, m.Slate.variant, m.Slate.items)
            .where(m.Slate.experiment == experiment)
            .order_by(m.Slate.served_at)
        )
        return [r._asdict() for r in rows]

    def events(self, experiment: str) -> list[dict[str, Any]]:
        """recommendation_id, type, position per event attributed to its slates."""
        rows = self.session.execute(
            select(m.Interaction.recommendation_id, m.Interaction.type, m.Interaction.position)
            .join(m.Slate, m.Slate.id == m.Interaction.recommendation_id)
            .where(m.Slate.experiment == experiment)
        )
        return [r._asdict() for r in rows]

    def active_jobs(self) -> int:
        """Jobs in the catalog now (the denominator of coverage)."""
        stmt = select(func.count()).select_from(m.Job).where(m.Job.active.is_(True))
        return int(self.session.scalar(stmt) or 0)

    def companies(self, job_ids: Sequence[str]) -> dict[str, str | None]:
        """job id -> its company's key (None: no company)."""
        stmt = by_ids(
            select(m.Job.external_id, m.Company.key).outerjoin(
                m.Company, m.Company.id == m.Job.company_id
            ),
            m.Job.external_id,
        )
        return {job: key for job, key in self._rows(stmt, list(job_ids))}
