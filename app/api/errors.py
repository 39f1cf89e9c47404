"""One JSON error shape for every error: {"error": {"code", "message", "details"}}.

Our own errors (`app.errors.JobrecError`) carry their code, status and a message written
for clients. Request validation, Starlette's HTTP errors and a database that does not
answer are mapped to the same shape; exception text of anything else never reaches a
client: it is logged with its traceback and answered with a generic 500 that carries
the request id.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.api.schemas import ErrorResponse
from app.errors import JobrecError, UnavailableError

log = logging.getLogger("jobrec.api")

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}
DATABASE_DOWN = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)


def error_response(
    status: int,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
    code: str | None = None,
) -> JSONResponse:
    code = code or CODES.get(status, HTTPStatus(status).phrase.lower().replace(" ", "_"))
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


def validation_details(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic errors without the offending input echoed back (it may be large)."""
    return [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": e.get("msg", ""),
            "type": e.get("type", ""),
        }
        for e in errors
    ]


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette names only the first route
    that matches the path). Asks each route through Starlette's own matching, so routes
    inside included routers count too."""
    routes = request.app.router.routes
    allowed = []
    for method in HTTP_METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in routes):
            allowed.append(method)
    return allowed


def _response(request: Request, exc: Exception) -> JSONResponse:
    """The error shape for any exception (the one handler)."""
    if isinstance(exc, JobrecError):
        return error_response(exc.status, exc.message, exc.details, exc.headers, exc.code)
    if isinstance(exc, RequestValidationError):
        return error_response(422, "the request is not valid", validation_details(exc.errors()))
    if isinstance(exc, StarletteHTTPException):
        message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return error_response(exc.status_code, message, headers=headers or None)
    if isinstance(exc, DATABASE_DOWN):
        log.warning("database unavailable: %s", type(exc).__name__)
        unavailable = UnavailableError("the database is unavailable; retry shortly")
        return _response(request, unavailable)
    request_id = getattr(request.state, "request_id", None)
    log.error("unhandled error", exc_info=exc, extra={"request_id": request_id})
    return error_response(500, "internal error", {"request_id": request_id})


def install(app: FastAPI) -> None:
    """Route every exception to the one error shape."""
    for kind in (
        JobrecError,
        RequestValidationError,
        StarletteHTTPException,
        *DATABASE_DOWN,
        Exception,
    ):
        app.add_exception_handler(kind, _handler)


async def _handler(request: Request, exc: Exception) -> JSONResponse:
    return _response(request, exc)


WHY = {
    400: "the body cannot be read (it is not UTF-8)",
    401: "X-API-Key is missing or wrong (only when the service has an API_KEY)",
    404: "no such user or job",
    409: "the change was refused; the message says why",
    413: "the body is larger than MAX_BODY_BYTES",
    422: "the request is not valid: the error names the field and the rule",
    429: "over the rate limit (RATE_LIMIT_PER_SECOND): retry after Retry-After seconds",
    503: "the database or the model is unavailable: retry after Retry-After seconds",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of the errors an operation can answer, in the error shape."""
    return {status: {"model": ErrorResponse, "description": WHY[status]} for status in statuses}


BODY = (400, 413, 422)  # what any operation that reads a JSON body may answer
