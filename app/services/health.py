"""Readiness: the model is loaded and the database answers."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.db import session_scope
from app.errors import UnavailableError
from app.serving.state import Serving, ServingState


class HealthService:
    def __init__(self, factory: sessionmaker[Session], serving: Serving) -> None:
        self.factory = factory
        self.serving = serving

    def ready(self) -> ServingState:
        """The serving state when the database answers; UnavailableError otherwise."""
        try:
            with session_scope(self.factory) as session:
                session.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise UnavailableError("the database does not answer") from exc
        return self.serving.state
