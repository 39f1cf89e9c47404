"""Events: record an interaction, at most once per idempotency key."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from app.db import session_scope
from app.repositories import EventRepository, EventRow
from app.services.attribution import RecommendationIds
from app.serving.state import Serving


class EventService:
    def __init__(
        self, factory: sessionmaker[Session], serving: Serving, ids: RecommendationIds
    ) -> None:
        self.factory = factory
        self.serving = serving
        self.ids = ids

    def record(self, event: EventRow) -> bool:
        """Insert the event, committed when this returns; False when its idempotency key
        was used before (nothing new is written, also when retries race). The user's
        kept answers go: their next recommendation counts the event. NotFoundError when
        the user or the job is not in the store; InvalidRecommendationError when it names
        a recommendation id this service did not issue to its user (nothing is written
        then, whether or not that answer's slate is in the store yet)."""
        if event.recommendation_id is not None:
            self.ids.check(event.recommendation_id, event.user_id)
        with session_scope(self.factory) as session:
            created = EventRepository(session).add([event]) > 0
        if created:
            self.serving.user_changed(event.user_id)
        return created
