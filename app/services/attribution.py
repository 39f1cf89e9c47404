"""Recommendation ids: each /recommend answer gets one, and an event that names it is
attributed to that answer.

An id is `<nonce>.<user tag>.<signature>` in base64url: 12 random bytes, the first 6
bytes of SHA-256 of the user id, and the first 12 bytes of HMAC-SHA256 over both with
the service's secret. Any worker can tell, without a database read and before the
answer's slate is written, whether an id was issued by this service and to which user:
an id cannot be made up, nor moved to another user, without the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from sqlalchemy.orm import Session, sessionmaker

from app.db import session_scope
from app.errors import InvalidInputError
from app.repositories.secrets import SecretRepository

SECRET_NAME = "recommendation_ids"
NONCE_BYTES, TAG_BYTES, SIGNATURE_BYTES = 12, 6, 12
RECOMMENDATION_ID_PATTERN = r"^[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]{16}$"
_ID = re.compile(RECOMMENDATION_ID_PATTERN)


class InvalidRecommendationError(InvalidInputError):
    """An event names a recommendation id this service did not issue to its user."""

    code = "invalid_recommendation_id"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _user_tag(user_id: str) -> str:
    return _b64(hashlib.sha256(user_id.encode()).digest()[:TAG_BYTES])


class RecommendationIds:
    """Issues and checks recommendation ids with one secret (every worker's the same)."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the recommendation id secret needs at least 16 bytes")
        self._secret = secret

    @classmethod
    def shared(cls, factory: sessionmaker[Session], secret: str | None = None) -> RecommendationIds:
        """With the configured `secret` (RECOMMENDATION_SECRET), or with the store's: made
        by the first process that asks and read by every other one."""
        if secret:
            return cls(secret.encode())
        with session_scope(factory) as session:
            stored = SecretRepository(session).get_or_create(
                SECRET_NAME, lambda: secrets.token_urlsafe(32)
            )
        return cls(stored.encode())

    def _sign(self, nonce: str, tag: str) -> str:
        mac = hmac.new(self._secret, f"{nonce}.{tag}".encode(), hashlib.sha256)
        return _b64(mac.digest()[:SIGNATURE_BYTES])

    def issue(self, user_id: str) -> str:
        """A new id for an answer to `user_id` (42 characters)."""
        nonce, tag = _b64(secrets.token_bytes(NONCE_BYTES)), _user_tag(user_id)
        return f"{nonce}.{tag}.{self._sign(nonce, tag)}"

    def check(self, recommendation_id: str, user_id: str) -> None:
        """Raise InvalidRecommendationError unless this service issued `recommendation_id`
        to `user_id`."""
        details = {"field": "recommendation_id", "value": recommendation_id}
        if _ID.match(recommendation_id):
            nonce, tag, signature = recommendation_id.split(".")
            if hmac.compare_digest(signature, self._sign(nonce, tag)):
                if hmac.compare_digest(tag, _user_tag(user_id)):
                    return
                raise InvalidRecommendationError(
                    f"recommendation_id {recommendation_id!r} was issued to another user, "
                    f"not to {user_id!r}",
                    details,
                )
        raise InvalidRecommendationError(
            f"recommendation_id {recommendation_id!r} was not issued by this service "
            "(use the recommendation_id of a /recommend answer to this user)",
            details,
        )
