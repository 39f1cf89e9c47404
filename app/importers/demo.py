"""`jobrec import demo`: the synthetic demo data of `app.demo` into the store."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.orm import Session, sessionmaker

from app.demo import DemoDraw
from app.importers import ImportResult, Progress, write_frames


def import_demo(
    factory: sessionmaker[Session],
    *,
    users: int,
    jobs: int,
    seed: int,
    progress: Progress | None = None,
) -> ImportResult:
    """Draw the demo and write it: the jobs are written (in a thread, mostly waiting on
    the database) while the users and their sessions are drawn."""
    draw = DemoDraw(n_users=users, n_jobs=jobs, seed=seed)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="demo-jobs") as pool:
        jobs_written = pool.submit(write_frames, factory, jobs=draw.jobs, progress=progress)
        data = draw.finish()
        result = jobs_written.result()
    # A deterministic key per event: re-running the same import inserts nothing new.
    events = data.events.assign(
        idempotency_key=[f"demo:{seed}:{i}" for i in range(len(data.events))]
    )
    rest = write_frames(factory, users=data.users, events=events, progress=progress)
    result.users = rest.users
    result.events_read, result.events_inserted = rest.events_read, rest.events_inserted
    return result
