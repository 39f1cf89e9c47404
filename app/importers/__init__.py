"""Importers: sources -> validated inputs (app.schemas) -> the repository layer.

Every importer is idempotent: entities are upserted by external id and events carry a
deterministic idempotency key, so running an import twice changes nothing. Writes go
through `app.repositories.bulk` (COPY into staging tables on PostgreSQL), a batch of rows
per transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from threading import Lock

import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from app.db import session_scope
from app.repositories import EventRow
from app.repositories.bulk import BulkLoader
from app.repositories.frames import EntityFrames, event_frame, job_frames, user_frames
from app.schemas import JobIn, UserIn

BATCH = 100_000  # rows per transaction
# Events are written by this many transactions at once on PostgreSQL, past this many
# (a PostgreSQL backend each: 408k demo events 9.7 s -> 6.5 s on 2 cores)
EVENT_WRITERS = 2
PARALLEL_EVENTS = 100_000
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
        counted = _Counted(say, "events", len(events))
        parts = _event_parts(factory, events)
        if len(parts) == 1:  # in this thread (an in-memory SQLite is one per thread)
            result.events_inserted = _write_events(factory, events, batch, counted)
            return result
        with ThreadPoolExecutor(len(parts), thread_name_prefix="import-events") as pool:
            written = pool.map(lambda part: _write_events(factory, part, batch, counted), parts)
            result.events_inserted = sum(written)
    return result


def _event_parts(factory: sessionmaker[Session], events: pd.DataFrame) -> list[pd.DataFrame]:
    """The events split for `EVENT_WRITERS` transactions at once: on PostgreSQL, past
    `PARALLEL_EVENTS` events, by user (each user's events stay in order, in one part)
    when no idempotency key is in two parts (none can then wait on, or win over, the
    other's); else one part."""
    engine = factory.kw["bind"]
    if engine.dialect.name != "postgresql" or len(events) < PARALLEL_EVENTS:
        return [events]
    part = pd.factorize(events["user_id"])[0] % EVENT_WRITERS
    keyed = events["idempotency_key"].notna().to_numpy()
    keys = pd.DataFrame({"key": events["idempotency_key"][keyed], "part": part[keyed]})
    if (keys.drop_duplicates().groupby("key").size() > 1).any():
        return [events]
    return [events[part == n] for n in range(EVENT_WRITERS)]


def _write_events(
    factory: sessionmaker[Session], events: pd.DataFrame, batch: int, counted: _Counted
) -> int:
    """Insert `events`, a transaction per `batch` rows; how many were new."""
    inserted = 0
    for start in range(0, len(events), batch):
        part = events.iloc[start : start + batch]
        with session_scope(factory) as session:
            inserted += BulkLoader(session).events(part)
        counted.add(len(part))
    return inserted


class _Counted:
    """A progress callback's running count, kept by writers in several threads."""

    def __init__(self, say: Progress, table: str, total: int) -> None:
        self.say, self.table, self.total, self.done = say, table, total, 0
        self.lock = Lock()

    def add(self, rows: int) -> None:
        with self.lock:
            self.done += rows
            self.say(self.table, self.done, self.total)
