"""`jobrec import demo`: the synthetic demo data of `app.demo` into the store."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from app.demo import generate_demo
from app.importers import ImportResult, Progress, write_frames


def import_demo(
    factory: sessionmaker[Session],
    *,
    users: int,
    jobs: int,
    seed: int,
    progress: Progress | None = None,
) -> ImportResult:
    data = generate_demo(n_users=users, n_jobs=jobs, seed=seed)
    # A deterministic key per event: re-running the same import inserts nothing new.
    events = data.events.assign(
        idempotency_key=[f"demo:{seed}:{i}" for i in range(len(data.events))]
    )
    return write_frames(factory, jobs=data.jobs, users=data.users, events=events, progress=progress)
