"""Importers: sources -> validated inputs (app.schemas) -> the repository layer.

Every importer is idempotent: entities are upserted by external id and events carry a
deterministic idempotency key, so running an import twice changes nothing. Writes go
through `app.repositories.bulk` (COPY into staging tables on PostgreSQL), a batch of rows
per transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from app.db import session_scope
from app.repositories import EventRow
from app.repositories.bulk import BulkLoader
from app.repositories.frames import EntityFrames, event_frame, job_frames, user_frames
from app.schemas import JobIn, UserIn

BATCH = 100_000  # rows per transaction
Progress = Callable[[str, int, int], None]  # (table, rows written, rows in all)


@dataclass
class ImportResult:
    users: int = 0
    jobs: int = 0
    events_read: int = 0
    events_inserted: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


def write_all(
    factory: sessionmaker[Session],
    *,
    jobs: Sequence[tuple[str, JobIn]] = (),
    users: Sequence[tuple[str, UserIn]] = (),
    events: Sequence[EventRow] = (),
    batch: int = BATCH,
    progress: Progress | None = None,
) -> ImportResult:
    """Upsert jobs and users, then insert events, committing batch by batch."""
    return write_frames(
        factory,
        jobs=job_frames(jobs) if jobs else None,
        users=user_frames(users) if users else None,
        events=event_frame(events) if events else None,
        batch=batch,
        progress=progress,
    )


def write_frames(
    factory: sessionmaker[Session],
    *,
    jobs: EntityFrames | None = None,
    users: EntityFrames | None = None,
    events: pd.DataFrame | None = None,
    batch: int = BATCH,
    progress: Progress | None = None,
) -> ImportResult:
    """`write_all` of frames: jobs and users upserted, then events inserted, a
    transaction per `batch` rows; `progress` hears of each batch written."""
    result = ImportResult()
    say = progress or (lambda table, done, total: None)
    for name, frames in (("jobs", jobs), ("users", users)):
        if frames is None:
            continue
        done = 0
        for part in frames.batches(batch):
            with session_scope(factory) as session:
                loader = BulkLoader(session)
                write = loader.jobs if name == "jobs" else loader.users
                done += len(write(part.rows, part.skills))
            say(name, done, len(frames.rows))
        setattr(result, name, done)
    if events is not None:
        result.events_read = len(events)
        for start in range(0, len(events), batch):
            with session_scope(factory) as session:
                part = events.iloc[start : start + batch]
                result.events_inserted += BulkLoader(session).events(part)
            say("events", min(start + batch, len(events)), len(events))
    return result
