"""Fixtures shared by every test: databases on each backend (SQLite always, PostgreSQL
when reachable: `tests.support.databases`)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

from app.db import create_db_engine, session_factory
from app.migrate import upgrade
from tests.support.databases import (
    BACKENDS,
    PG_ADMIN_URL,
    PostgresDatabases,
    new_database,
)


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PostgresDatabases | None]:
    if PG_ADMIN_URL is None:
        yield None
        return
    dbs = PostgresDatabases(PG_ADMIN_URL)
    yield dbs
    dbs.drop_all()


@pytest.fixture(params=BACKENDS)
def empty_db_url(request, tmp_path, pg_databases) -> str:
    """URL of a new, empty database (no schema) on each backend."""
    return new_database(request.param, tmp_path, pg_databases)


@pytest.fixture
def db_url(empty_db_url) -> str:
    """URL of a new database migrated to head."""
    upgrade(empty_db_url)
    return empty_db_url


@pytest.fixture
def factory(db_url):
    engine = create_db_engine(db_url)
    yield session_factory(engine)
    engine.dispose()


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "postgresql: runs against PostgreSQL")
    # every server the tests start (in-process or not) writes and maps its catalog
    # snapshots here, not in the checkout's var/
    os.environ.setdefault("CATALOG_SNAPSHOT_DIR", tempfile.mkdtemp(prefix="jobrec-test-snapshots-"))


def pytest_report_header(config) -> str:
    where = PG_ADMIN_URL or "not reachable: PostgreSQL tests skip"
    return f"databases: SQLite + PostgreSQL ({where})"
