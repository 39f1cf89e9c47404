"""Helpers shared by the benchmarks: a throw-away store and a description of the machine."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.db import create_db_engine, session_factory
from app.migrate import upgrade
from app.services.training import training_records

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def temporary_store(prefix: str = "jobrec-bench-"):
    """(database URL, session factory, folder) of a migrated SQLite store, removed after."""
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        url = f"sqlite:///{Path(folder) / 'store.db'}"
        upgrade(url)
        engine = create_db_engine(url)
        try:
            yield url, session_factory(engine), Path(folder)
        finally:
            engine.dispose()


@contextmanager
def fresh_postgres(admin_url: str, checkout: Path, prefix: str = "jobrec_bench") -> Iterator[str]:
    """The URL of a new PostgreSQL database, migrated by `checkout`'s own
    `jobrec db upgrade` (in its own process), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        command = [sys.executable, "-m", "app.cli", "db", "upgrade"]
        env = {**os.environ, "DATABASE_URL": url}
        subprocess.run(command, cwd=checkout, env=env, check=True, capture_output=True)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def stored_rows(url: str) -> int:
    """Jobs + users + interactions in the store at `url`."""
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = sum(
            conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("jobs", "users", "interactions")
        )
    engine.dispose()
    return rows


def load_records(factory):
    return training_records(factory)


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )
