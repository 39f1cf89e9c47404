"""`jobrec import demo`: the synthetic demo data of `app.demo` into the store."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.orm import Session, sessionmaker

from app.demo import generate_demo
from app.importers import ImportResult, write_all


def import_demo(
    factory: sessionmaker[Session], *, users: int, jobs: int, seed: int
) -> ImportResult:
    data = generate_demo(n_users=users, n_jobs=jobs, seed=seed)
    # A deterministic key per event: re-running the same import inserts nothing new.
    events = [replace(e, idempotency_key=f"demo:{seed}:{i}") for i, e in enumerate(data.events)]
    return write_all(factory, jobs=data.jobs, users=data.users, events=events)
