"""The SQLAlchemy engine and sessions: the one place that knows how to connect."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def create_db_engine(url: str, *, timeout: float | None = None) -> Engine:
    """An engine for SQLite (file created on demand) or PostgreSQL (psycopg 3).

    SQLite gets foreign keys on, WAL journaling and a busy timeout so that the API and a
    CLI import can share the file. `timeout` (seconds; the service sets it) bounds the
    wait for a pooled connection and, on PostgreSQL, every statement and the connect
    (libpq's minimum is 2 s); dead pooled connections are detected before use.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            **(_service_pool(timeout) if timeout else {}),
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    connect_args: dict = {"connect_timeout": 5}
    options: dict = {}
    if timeout:
        connect_args = {
            "connect_timeout": max(2, math.ceil(timeout)),
            "options": f"-c statement_timeout={int(timeout * 1000)}",
        }
        options = _service_pool(timeout)
    return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args, **options)


def _service_pool(timeout: float) -> dict:
    """More connections than the server's request threads (REQUEST_THREADS), so a burst
    of requests never waits on the pool; waiting longer than `timeout` is 503. The most
    recently used connection is taken first: the once-a-second check of the store then
    finds one whose caches are warm, and the surplus ones stay idle."""
    return {"pool_size": 10, "max_overflow": 30, "pool_timeout": timeout, "pool_use_lifo": True}


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
