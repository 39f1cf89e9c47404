"""The dataset format row by row: the reference `app.importers.dataset` (column-wise)
must agree with. Each row is read with `csv.DictReader`, its blank cells dropped, and
given to the API's models one row at a time (the importer's logic before it went
column-wise), its errors as "file:line: field: message"."""

from __future__ import annotations

import csv
from datetime import UTC
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import TypeAdapter, ValidationError

from app.importers.dataset import default_event_key
from app.repositories import EventRow
from app.repositories.frames import EntityFrames, event_frame, job_frames, user_frames
from app.schemas import EventIn, ExternalId, JobIn, UserIn

TRUE = {"1", "true", "yes", "y", "t"}
FALSE = {"0", "false", "no", "n", "f"}
PLACE = ("city", "region", "country", "latitude", "longitude")
IDS: TypeAdapter[str] = TypeAdapter(ExternalId)
Row = dict[str, str]


class RowError(Exception):
    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def clean(row: dict[Any, Any]) -> Row:
    return {k.strip(): v.strip() for k, v in row.items() if k and v is not None and v.strip()}


def listed(text: str | None) -> list[str]:
    return [s.strip() for s in (text or "").split(";") if s.strip()]


def location(row: Row) -> dict[str, str] | str | None:
    if any(k in row for k in PLACE):
        return {k: row[k] for k in PLACE if k in row}
    return row.get("location")


class Checked:
    """One row's errors, gathered over its fields."""

    def __init__(self, row: Row, required: tuple[str, ...]) -> None:
        self.row = row
        self.empty = {c for c in required if not row.get(c)}
        self.errors = [(c, "required, but empty") for c in sorted(self.empty)]

    def boolean(self, column: str, default: bool) -> bool:
        text = self.row.get(column)
        if text is None:
            return default
        if text.lower() in TRUE:
            return True
        if text.lower() not in FALSE:
            self.errors.append((column, f"not a boolean: {text!r}"))
        return False

    def external_id(self, column: str) -> str:
        if column in self.empty:
            return ""
        try:
            return IDS.validate_python(self.row[column])
        except ValidationError as exc:
            self.errors.extend((column, e["msg"]) for e in exc.errors())
            return ""

    def build(self, model: Any, **fields: Any) -> Any:
        try:
            built = model(**fields)
        except ValidationError as exc:
            for err in exc.errors():
                if err["loc"][0] not in self.empty:
                    self.errors.append((".".join(str(p) for p in err["loc"]), err["msg"]))
            built = None
        if self.errors:
            raise RowError(self.errors)
        return built


def job_from_row(row: Row) -> tuple[str, JobIn]:
    check = Checked(row, ("job_id", "title"))
    ext = check.external_id("job_id")
    salary = None
    if "salary_min" in row or "salary_max" in row:
        salary = {
            "min": row.get("salary_min"),
            "max": row.get("salary_max"),
            "currency": row.get("salary_currency", "USD"),
            "period": row.get("salary_period", "year"),
        }
    remote, active = check.boolean("remote", False), check.boolean("active", True)
    job = check.build(
        JobIn,
        title=row.get("title", ""),
        description=row.get("description", ""),
        company=row.get("company"),
        location=location(row),
        remote=remote,
        skills=listed(row.get("skills")),
        salary=salary,
        employment_type=row.get("employment_type"),
        posted_at=row.get("posted_at"),
        expires_at=row.get("expires_at"),
        active=active,
    )
    return ext, job


def user_from_row(row: Row) -> tuple[str, UserIn]:
    check = Checked(row, ("user_id",))
    ext = check.external_id("user_id")
    desired = None
    if "desired_salary" in row:
        desired = {
            "amount": row["desired_salary"],
            "currency": row.get("desired_salary_currency", "USD"),
            "period": row.get("desired_salary_period", "year"),
        }
    user = check.build(
        UserIn,
        headline=row.get("headline", ""),
        location=location(row),
        current_company=row.get("current_company"),
        skills=listed(row.get("skills")),
        desired_salary=desired,
    )
    return ext, user


def event_from_row(row: Row) -> EventRow:
    check = Checked(row, ("user_id", "job_id", "type", "timestamp"))
    event = check.build(
        EventIn,
        user_id=row.get("user_id", ""),
        job_id=row.get("job_id", ""),
        type=row.get("type", ""),
        timestamp=row.get("timestamp"),
        idempotency_key=row.get("idempotency_key"),
    )
    timestamp = event.timestamp if event.timestamp.tzinfo else event.timestamp.replace(tzinfo=UTC)
    key = event.idempotency_key or default_event_key(
        event.user_id, event.job_id, event.type, timestamp.isoformat()
    )
    return EventRow(event.user_id, event.job_id, event.type, timestamp, key)


def parse(path: Path, convert: Any, errors: list[str]) -> list[Any]:
    out = []
    with path.open(newline="", encoding="utf-8") as fh:
        for line, raw in enumerate(csv.DictReader(fh), start=2):
            try:
                out.append(convert(clean(raw)))
            except RowError as exc:
                errors.extend(f"{path.name}:{line}: {where}: {msg}" for where, msg in exc.errors)
    return out


def reference(
    directory: Path,
) -> tuple[EntityFrames | None, EntityFrames | None, pd.DataFrame | None, list[str]]:
    """(jobs, users, events) of the folder as frames (None: no such file), and the
    errors of its rows."""
    errors: list[str] = []
    found = []
    for name, convert in (
        ("jobs.csv", job_from_row),
        ("users.csv", user_from_row),
        ("interactions.csv", event_from_row),
    ):
        path = directory / name
        found.append(parse(path, convert, errors) if path.is_file() else None)
    jobs, users, events = found
    return (
        job_frames(jobs) if jobs is not None else None,
        user_frames(users) if users is not None else None,
        event_frame(events) if events is not None else None,
        errors,
    )
