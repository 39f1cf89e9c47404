"""The service's errors: one base, `JobrecError`, with a machine-readable `code`, the HTTP
`status` it answers with and a message written for clients; `details` carries what a
client can act on (the field, close matches). The API writes any of them in the one
error shape, `{"error": {"code", "message", "details"}}`; the command line prints the
message. Subclasses exist where a caller tells them apart.
"""

from __future__ import annotations

from typing import Any, ClassVar


class JobrecError(Exception):
    """An error whose message may be shown to a client as it is."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 500
    headers: ClassVar[dict[str, str] | None] = None

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        """The error object of the one error shape."""
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidInputError(JobrecError):
    """Input that is well formed but cannot be used (an import's bad rows)."""

    code = "validation_error"
    status = 422


class UnknownPlaceError(InvalidInputError):
    """A place filter naming a place that neither the gazetteer nor any job knows."""

    code = "unknown_place"


class NotFoundError(JobrecError):
    """A user or job that is not in the store."""

    code = "not_found"
    status = 404


class ConflictError(JobrecError):
    """A change that was refused (a checkpoint that does not load); the state is kept."""

    code = "conflict"
    status = 409


class UnavailableError(JobrecError):
    """The database or the model cannot answer now; retrying shortly may work."""

    code = "unavailable"
    status = 503
    headers = {"Retry-After": "1"}  # noqa: RUF012 (read-only)


class SourceError(InvalidInputError):
    """Import files that are missing or not in the expected shape."""
