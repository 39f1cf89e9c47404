"""Test databases: SQLite always, PostgreSQL when one is reachable.

PostgreSQL runs when TEST_DATABASE_URL is set or a local server answers on
127.0.0.1:5432; each test session creates its own throw-away databases on it.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

LOCAL_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _postgres_admin_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    candidate = url or LOCAL_PG
    try:
        engine = create_engine(candidate, connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return candidate
    except Exception as exc:
        if url:  # asked for explicitly: failing to reach it is an error, not a skip
            raise RuntimeError(f"TEST_DATABASE_URL={url} is not reachable: {exc}") from exc
        return None


PG_ADMIN_URL = _postgres_admin_url()

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


class PostgresDatabases:
    """Creates and drops uniquely named databases on the test server."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []

    def create(self) -> str:
        name = f"jobrec_test_{uuid.uuid4().hex[:12]}"
        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        self.created.append(name)
        url = make_url(self.admin_url).set(database=name)
        return url.render_as_string(hide_password=False)

    def drop_all(self) -> None:
        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def new_database(backend: str, folder: Path, pg_databases: PostgresDatabases | None) -> str:
    """URL of a new, empty database (no schema): a SQLite file in `folder`, or a fresh
    PostgreSQL database (the test is skipped when none is reachable)."""
    if backend == "sqlite":
        return f"sqlite:///{folder / 'store.db'}"
    if pg_databases is None:
        pytest.skip("PostgreSQL not reachable (set TEST_DATABASE_URL to run these)")
    return pg_databases.create()
