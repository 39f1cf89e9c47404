"""Experiments' rows: create (at most one running), read, stop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app import models as m
from app.errors import ConflictError
from app.repositories.base import Repository, as_utc, utc


@dataclass(frozen=True)
class Variant:
    name: str
    model: str  # a registered version or a baseline's name
    traffic: float  # share of the users, in (0, 1]


@dataclass(frozen=True)
class ExperimentRow:
    name: str
    control: str  # the name of one of the variants
    variants: tuple[Variant, ...]
    status: str  # running | stopped
    started_at: datetime
    stopped_at: datetime | None = None

    @property
    def models(self) -> set[str]:
        return {v.model for v in self.variants}


def _row(r: m.Experiment) -> ExperimentRow:
    return ExperimentRow(
        name=r.name,
        control=r.control,
        variants=tuple(Variant(v["name"], v["model"], float(v["traffic"])) for v in r.variants),
        status=r.status,
        started_at=utc(r.started_at),
        stopped_at=as_utc(r.stopped_at),
    )


class ExperimentRepository(Repository):
    def add(self, name: str, control: str, variants: tuple[Variant, ...]) -> ExperimentRow:
        """Start an experiment; ConflictError when the name is taken or another runs."""
        if self.session.get(m.Experiment, name) is not None:
            raise ConflictError(f"an experiment named {name!r} exists already")
        running = self.running()
        if running is not None:
            raise ConflictError(
                f"experiment {running.name!r} is running: stop it first (one at a time)"
            )
        row = m.Experiment(
            name=name,
            control=control,
            variants=[{"name": v.name, "model": v.model, "traffic": v.traffic} for v in variants],
            status="running",
            started_at=datetime.now(UTC),
        )
        self.session.add(row)
        try:
            self.session.flush()  # the unique index settles a race between two starts
        except IntegrityError:
            raise ConflictError("another experiment was started at the same time") from None
        return _row(row)

    def running(self) -> ExperimentRow | None:
        row = self.session.scalars(
            select(m.Experiment).where(m.Experiment.status == "running")
        ).first()
        return _row(row) if row is not None else None

    def get(self, name: str) -> ExperimentRow | None:
        row = self.session.get(m.Experiment, name)
        return _row(row) if row is not None else None

    def all(self) -> list[ExperimentRow]:
        rows = self.session.scalars(select(m.Experiment).order_by(m.Experiment.started_at.desc()))
        return [_row(r) for r in rows]

    def stop(self, name: str) -> None:
        self.session.execute(
            update(m.Experiment)
            .where(m.Experiment.name == name, m.Experiment.status == "running")
            .values(status="stopped", stopped_at=datetime.now(UTC))
        )
