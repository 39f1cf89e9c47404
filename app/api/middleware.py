"""ASGI middleware: request ids, access logs and metrics, body size and rate limits.

Pure ASGI (no BaseHTTPMiddleware) so that nothing buffers a response or breaks
streaming; each answers refusals itself in the one JSON error shape.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
import uuid

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import error_response
from app.logs import request_id_var
from app.metrics import Metrics

REQUEST_ID_HEADER = b"x-request-id"
_VALID_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")
access_log = logging.getLogger("jobrec.access")


class RequestIdMiddleware:
    """Takes X-Request-ID from the client when it is a short token, else makes one;
    stores it in `request.state.request_id` and the logging context, and returns it as
    a response header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(REQUEST_ID_HEADER, b"")
        request_id = given.decode() if _VALID_ID.match(given) else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


class AccessMiddleware:
    """One structured log line and one latency observation per request, labelled by the
    route template (never the raw path: ids would explode the label set)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.request_seconds.labels(route, scope["method"], str(status)).observe(
                seconds
            )
            access_log.info(
                "%s %s %d",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "client": (scope.get("client") or ("", 0))[0],
                },
            )


class BodyLimitMiddleware:
    """413 for a request body over `max_bytes`: at once from Content-Length, or as soon
    as a streamed body passes the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, limited_receive, send)

    def _message(self) -> str:
        return f"the request body is larger than {self.max_bytes} bytes"

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        await error_response(413, self._message())(scope, receive, send)


class RateLimitMiddleware:
    """Token buckets per API key (hashed) or, without one, per client address:
    `rate` requests per second on average, `burst` at once. Over it: 429 with
    Retry-After. Health, readiness and metrics are never limited."""

    EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})
    MAX_CLIENTS = 100_000

    def __init__(self, app: ASGIApp, rate: float, burst: int) -> None:
        self.app = app
        self.rate = rate
        self.burst = float(burst)
        self.buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)

    def client_key(self, scope: Scope) -> str:
        key = dict(scope["headers"]).get(b"x-api-key")
        if key:
            return "key:" + hashlib.sha256(key).hexdigest()[:16]
        return "ip:" + (scope.get("client") or ("unknown", 0))[0]

    def take(self, client: str, now: float) -> float:
        """0 when the request may pass, else the seconds until it would."""
        tokens, at = self.buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens >= 1:
            self.buckets[client] = (tokens - 1, now)
            return 0.0
        self.buckets[client] = (tokens, now)
        return (1 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        """Forget clients whose bucket has refilled: they are indistinguishable from new."""
        full = self.burst / self.rate
        self.buckets = {c: v for c, v in self.buckets.items() if now - v[1] < full}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.EXEMPT:
            await self.app(scope, receive, send)
            return
        now = time.monotonic()
        if len(self.buckets) > self.MAX_CLIENTS:
            self._prune(now)
        wait = self.take(self.client_key(scope), now)
        if wait > 0:
            retry = max(1, math.ceil(wait))
            await error_response(
                429,
                f"rate limit of {self.rate:g} requests/s exceeded; retry in {retry} s",
                headers={"Retry-After": str(retry)},
            )(scope, receive, send)
            return
        await self.app(scope, receive, send)
