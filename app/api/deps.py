"""Typed dependencies: a database session per request, the recommender, the settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.recommender import Recommender
from app.settings import Settings


def get_session(request: Request) -> Iterator[Session]:
    """A session that commits when the route returns and rolls back on error."""
    session = request.app.state.session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def get_recommender(request: Request) -> Recommender:
    return request.app.state.recommender


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


SessionDep = Annotated[Session, Depends(get_session)]
RecommenderDep = Annotated[Recommender, Depends(get_recommender)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
