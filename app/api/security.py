"""API keys: with API_KEY set, write and admin routes need X-API-Key (and /recommend
too with RECOMMEND_REQUIRES_API_KEY).

The key is compared in constant time (`hmac.compare_digest`), so response timing says
nothing about how much of a guess was right.
"""

from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="the service's API_KEY"
)


def require_api_key(request: Request, given: str | None = Security(api_key_header)) -> None:
    expected = request.app.state.settings.api_key
    if expected is None:
        return
    if given is None:
        raise HTTPException(
            401, "this endpoint needs the X-API-Key header", headers={"WWW-Authenticate": "ApiKey"}
        )
    if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        raise HTTPException(
            401, "the X-API-Key is not valid", headers={"WWW-Authenticate": "ApiKey"}
        )


API_KEY_REQUIRED = [Depends(require_api_key)]
