"""`jobrec import dataset DIR`: the canonical format (docs/dataset.md).

DIR holds `jobs.csv`, and optionally `users.csv` and `interactions.csv`. Every row is
validated first (with the same input models as the API); if any row is invalid nothing
is written and the error lists file, line and field.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from app.db import session_scope
from app.errors import SourceError
from app.importers import ImportResult, Progress, write_all
from app.repositories import EventRow, JobRepository, UserRepository
from app.schemas import EventIn, JobIn, UserIn

MAX_ERRORS_SHOWN = 20
T = TypeVar("T")
TRUE = {"1", "true", "yes", "y", "t"}
FALSE = {"0", "false", "no", "n", "f", ""}


class DatasetError(SourceError):
    """Rows that do not validate; `errors` holds "file:line: field: message" strings."""

    def __init__(self, errors: list[str]) -> None:
        shown = "\n  ".join(errors[:MAX_ERRORS_SHOWN])
        more = (
            f"\n  ... and {len(errors) - MAX_ERRORS_SHOWN} more"
            if len(errors) > MAX_ERRORS_SHOWN
            else ""
        )
        super().__init__(f"{len(errors)} invalid rows; nothing was imported:\n  {shown}{more}")
        self.errors = errors


def _clean(row: dict) -> dict:
    return {k.strip(): v.strip() for k, v in row.items() if k and v is not None and v.strip()}


def _list(text: str | None) -> list[str]:
    return [s.strip() for s in (text or "").split(";") if s.strip()]


def _bool(text: str | None, default: bool) -> bool:
    if text is None:
        return default
    if text.lower() in TRUE:
        return True
    if text.lower() in FALSE:
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _location(row: dict[str, str]) -> dict[str, str] | str | None:
    if any(k in row for k in ("city", "region", "country", "latitude", "longitude")):
        return {
            k: row[k] for k in ("city", "region", "country", "latitude", "longitude") if k in row
        }
    return row.get("location")


def job_from_row(row: dict) -> tuple[str, JobIn]:
    salary = None
    if "salary_min" in row or "salary_max" in row:
        salary = {
            "min": row.get("salary_min"),
            "max": row.get("salary_max"),
            "currency": row.get("salary_currency", "USD"),
            "period": row.get("salary_period", "year"),
        }
    return row["job_id"], JobIn(
        title=row.get("title", ""),
        description=row.get("description", ""),
        company=row.get("company"),
        location=_location(row),
        remote=_bool(row.get("remote"), False),
        skills=_list(row.get("skills")),
        salary=salary,
        employment_type=row.get("employment_type"),
        posted_at=row.get("posted_at"),
        expires_at=row.get("expires_at"),
        active=_bool(row.get("active"), True),
    )


def user_from_row(row: dict) -> tuple[str, UserIn]:
    desired = None
    if "desired_salary" in row:
        desired = {
            "amount": row["desired_salary"],
            "currency": row.get("desired_salary_currency", "USD"),
            "period": row.get("desired_salary_period", "year"),
        }
    return row["user_id"], UserIn(
        headline=row.get("headline", ""),
        location=_location(row),
        current_company=row.get("current_company"),
        skills=_list(row.get("skills")),
        desired_salary=desired,
    )


def event_from_row(row: dict) -> EventRow:
    event = EventIn(
        user_id=row.get("user_id", ""),
        job_id=row.get("job_id", ""),
        type=row.get("type", ""),
        timestamp=row.get("timestamp"),
        idempotency_key=row.get("idempotency_key"),
    )
    if event.timestamp is None:
        raise ValueError("timestamp is required in a dataset")
    timestamp = event.timestamp if event.timestamp.tzinfo else event.timestamp.replace(tzinfo=UTC)
    key = (
        event.idempotency_key
        or f"dataset:{event.user_id}:{event.job_id}:{event.type}:{timestamp.isoformat()}"
    )
    return EventRow(event.user_id, event.job_id, event.type, timestamp, key)


def _parse(
    path: Path, required: set[str], convert: Callable[[dict[str, str]], T], errors: list[str]
) -> list[T]:
    out: list[T] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = required - set(reader.fieldnames or ())
        if missing:
            errors.append(f"{path.name}: missing columns {sorted(missing)}")
            return out
        for line, raw in enumerate(reader, start=2):
            row = _clean(raw)
            try:
                for column in required:
                    if not row.get(column):
                        raise ValueError(f"{column} is empty")
                out.append(convert(row))
            except ValidationError as exc:
                for err in exc.errors():
                    where = ".".join(str(p) for p in err["loc"])
                    errors.append(f"{path.name}:{line}: {where}: {err['msg']}")
            except ValueError as exc:
                errors.append(f"{path.name}:{line}: {exc}")
    return out


def read_dataset(
    directory: str | Path,
) -> tuple[list[tuple[str, JobIn]], list[tuple[str, UserIn]], list[EventRow]]:
    directory = Path(directory)
    if not (directory / "jobs.csv").is_file():
        raise SourceError(f"{directory / 'jobs.csv'} not found")
    errors: list[str] = []
    jobs = _parse(directory / "jobs.csv", {"job_id", "title"}, job_from_row, errors)
    users = events = []
    if (directory / "users.csv").is_file():
        users = _parse(directory / "users.csv", {"user_id"}, user_from_row, errors)
    if (directory / "interactions.csv").is_file():
        events = _parse(
            directory / "interactions.csv",
            {"user_id", "job_id", "type", "timestamp"},
            event_from_row,
            errors,
        )
    if errors:
        raise DatasetError(errors)
    return jobs, users, events


def import_dataset(
    factory: sessionmaker[Session], directory: str | Path, progress: Progress | None = None
) -> ImportResult:
    """Validate everything, check that events name known users and jobs (in the dataset
    or already in the store), then write."""
    jobs, users, events = read_dataset(directory)
    new_users = {u for u, _ in users}
    new_jobs = {j for j, _ in jobs}
    with session_scope(factory) as session:
        known_users = new_users | UserRepository(session).existing(
            {e.user_id for e in events} - new_users
        )
        known_jobs = new_jobs | JobRepository(session).existing(
            {e.job_id for e in events} - new_jobs
        )
    errors = [
        f"interactions.csv: user {e.user_id!r} or job {e.job_id!r} is neither in "
        "the dataset nor in the store"
        for e in events
        if e.user_id not in known_users or e.job_id not in known_jobs
    ]
    if errors:
        raise DatasetError(errors)
    return write_all(factory, jobs=jobs, users=users, events=events, progress=progress)
