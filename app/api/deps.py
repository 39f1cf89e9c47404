"""Typed dependencies: a database session per request, the recommender, the settings."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.recommender import Recommender
from app.settings import Settings

log = logging.getLogger("jobrec.api")


@contextmanager
def request_session(request: Request) -> Iterator[Session]:
    """A session for one request. Routes that write commit explicitly before they answer
    (so a 2xx means committed); whatever is left uncommitted is rolled back on close.
    Nothing here runs after the response has started, so a database that fails late
    cannot turn a sent answer into a broken one."""
    session = request.app.state.session_factory()
    try:
        yield session
    finally:
        try:
            session.close()
        except SQLAlchemyError as exc:  # the connection died; the pool drops it
            log.warning("closing a database session failed: %s", type(exc).__name__)


def get_session(request: Request) -> Iterator[Session]:
    with request_session(request) as session:
        yield session


# async: nothing to wait for, so FastAPI calls them on the event loop instead of handing
# them to a worker thread (a thread hop costs more than the call)
async def get_recommender(request: Request) -> Recommender:
    return request.app.state.recommender


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


SessionDep = Annotated[Session, Depends(get_session)]
RecommenderDep = Annotated[Recommender, Depends(get_recommender)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
