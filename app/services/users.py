"""Users: create or replace a profile, read one."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from app import models as m
from app.db import session_scope
from app.errors import NotFoundError
from app.repositories import UserRepository
from app.schemas import UserIn
from app.serving.state import Serving


class UserService:
    def __init__(self, factory: sessionmaker[Session], serving: Serving) -> None:
        self.factory = factory
        self.serving = serving

    def put(self, user_id: str, profile: UserIn) -> tuple[m.User, bool]:
        """Create or replace the profile; returns the stored user and whether it is new.
        The user's kept answers go at once: the next recommendation uses the profile."""
        with session_scope(self.factory) as session:
            users = UserRepository(session)
            created = users.get(user_id) is None
            users.upsert([(user_id, profile)])
        self.serving.user_changed(user_id)
        return self.get(user_id), created

    def get(self, user_id: str) -> m.User:
        """The stored user (place, company and skills loaded); NotFoundError if none."""
        with session_scope(self.factory) as session:
            user = UserRepository(session).get(user_id)
        if user is None:
            raise NotFoundError(f"user {user_id!r} not found")
        return user
