"""`jobrec import dataset DIR`: the canonical format (docs/dataset.md).

DIR holds `jobs.csv`, and optionally `users.csv` and `interactions.csv`. Every file is
validated first, column by column with the API's input models (`app.schemas`,
through `app.importers.tables`): each distinct value, or combination of the columns a
rule reads (a salary, a structured place), once. If any row is invalid nothing is
written, and every error is listed as "file:line: field: message".

A row stands for the API's input built from its non-blank cells: `JobIn`, `UserIn`,
`EventIn`, with a structured place (`city`, ..., `longitude`) before the `location`
text, a salary when `salary_min` or `salary_max` is given, a desired salary when
`desired_salary` is; ids are the API's external ids. Booleans read
true/false/yes/no/1/0/t/f/y/n in any case. The last row of an id wins. Times are
written as UTC instants (UTC where no offset is given). The models' own model-level
check (`_Input`: no JSON booleans or numbers where text is wanted) has nothing to see
here: every cell is text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from app import models as m
from app.db import session_scope
from app.errors import SourceError
from app.importers import ImportResult, Progress, write_frames
from app.importers.tables import (
    CsvTable,
    Problems,
    Validator,
    expand,
    field_adapter,
    read_csv_strings,
    texts,
)
from app.repositories import JobRepository, UserRepository
from app.repositories.frames import EVENT_COLUMNS, JOB_COLUMNS, USER_COLUMNS, EntityFrames
from app.schemas import EventIn, JobIn, UserIn, resolve_location

MAX_ERRORS_SHOWN = 20
TRUE = {"1", "true", "yes", "y", "t"}
FALSE = {"0", "false", "no", "n", "f"}
PLACE = ("city", "region", "country", "latitude", "longitude")
SALARY = ("salary_min", "salary_max", "salary_currency", "salary_period")
DESIRED = ("desired_salary", "desired_salary_currency", "desired_salary_period")
# the frames' columns of a `Salary` and of a `DesiredSalaryIn`: column -> attribute
SALARY_COLUMNS = {
    "salary_min": "minimum",
    "salary_max": "maximum",
    "salary_currency": "currency",
    "salary_period": "period",
    "salary_annual_min_usd": "annual_min_usd",
    "salary_annual_max_usd": "annual_max_usd",
}
DESIRED_COLUMNS = {
    "desired_salary_amount": "amount",
    "desired_salary_currency": "currency",
    "desired_salary_period": "period",
    "desired_salary_annual_usd": "annual_usd",
}
REQUIRED = {
    "jobs.csv": ("job_id", "title"),
    "users.csv": ("user_id",),
    "interactions.csv": ("user_id", "job_id", "type", "timestamp"),
}


class DatasetError(SourceError):
    """Rows that do not validate; `errors` holds "file:line: field: message" strings."""

    def __init__(self, errors: list[str]) -> None:
        shown = "\n  ".join(errors[:MAX_ERRORS_SHOWN])
        more = (
            f"\n  ... and {len(errors) - MAX_ERRORS_SHOWN} more"
            if len(errors) > MAX_ERRORS_SHOWN
            else ""
        )
        super().__init__(f"{len(errors)} errors; nothing was imported:\n  {shown}{more}")
        self.errors = errors


@dataclass
class Dataset:
    """A validated dataset as the frames `write_frames` takes (None: no such file), and
    the line of each event."""

    jobs: EntityFrames
    users: EntityFrames | None
    events: pd.DataFrame | None
    event_lines: np.ndarray


def _bool(default: bool) -> Any:
    def parse(text: str) -> bool:
        if not text:
            return default
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise ValueError(f"not a boolean: {text!r}")

    return parse


def _place(cells: dict[str, str]) -> dict[str, str] | str | None:
    if any(k in cells for k in PLACE):
        return {k: cells[k] for k in PLACE if k in cells}
    return cells.get("location")


def _salary(cells: dict[str, str]) -> dict[str, str | None] | None:
    if "salary_min" not in cells and "salary_max" not in cells:
        return None
    return {
        "min": cells.get("salary_min"),
        "max": cells.get("salary_max"),
        "currency": cells.get("salary_currency", "USD"),
        "period": cells.get("salary_period", "year"),
    }


def _desired(cells: dict[str, str]) -> dict[str, str] | None:
    if "desired_salary" not in cells:
        return None
    return {
        "amount": cells["desired_salary"],
        "currency": cells.get("desired_salary_currency", "USD"),
        "period": cells.get("desired_salary_period", "year"),
    }


class _File(Validator):
    """The checks the three files share."""

    def required(self, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Rows (positions) where each required column is given; the others reported."""
        given = {}
        for column in columns:
            mask = self.given(column)
            self.rows_where(~mask, column, "required, but empty")
            given[column] = np.flatnonzero(mask)
        return given

    def every(self) -> np.ndarray:
        return np.arange(len(self.table.frame))

    def flag(self, column: str, default: bool) -> np.ndarray:
        codes, uniques = texts(self.cells(column))
        values = self.convert(_bool(default), uniques, codes, self.every(), column)
        return expand(values, codes).astype(bool)

    def location(self, model: type[JobIn | UserIn]) -> tuple[np.ndarray, np.ndarray]:
        """(place, remote) of each row: a `Place` or None, and whether its text says
        the work is remote; each distinct place resolved once."""
        inputs, codes = self.combined(("location", *PLACE), _place, self.every())
        values = self.check(
            field_adapter(model, "location"), inputs, codes, self.every(), "location"
        )
        resolved = [resolve_location(v) for v in values]
        remote = expand([r.remote for r in resolved], codes).astype(bool)
        return expand([r.place for r in resolved], codes), remote

    def skills(self, model: type[JobIn | UserIn]) -> np.ndarray:
        codes, uniques = texts(self.cells("skills"))
        inputs = [[s.strip() for s in text.split(";") if s.strip()] for text in uniques]
        values = self.check(field_adapter(model, "skills"), inputs, codes, self.every(), "skills")
        return expand(values, codes)

    def composite(
        self, model: type[JobIn | UserIn], name: str, columns: tuple[str, ...], build: Any
    ) -> tuple[list[Any], np.ndarray]:
        """(values, codes): the field `name` that `build` makes of `columns`, validated
        once per distinct combination; row i's is `values[codes[i]]`."""
        inputs, codes = self.combined(columns, build, self.every())
        return self.check(field_adapter(model, name), inputs, codes, self.every(), name), codes


def _jobs(table: CsvTable, problems: Problems) -> EntityFrames | None:
    check = _File(table, problems)
    given = check.required(REQUIRED["jobs.csv"])
    columns = {
        "external_id": check.field(EventIn, "job_id", rows=given["job_id"]),
        "title": check.field(JobIn, "title", rows=given["title"]),
        "description": check.field(JobIn, "description", blank=""),
        "company": check.field(JobIn, "company"),
        "employment_type": check.field(JobIn, "employment_type"),
        # times as given: the bulk writer stores every one at UTC (no offset: UTC)
        "posted_at": check.field(JobIn, "posted_at"),
        "expires_at": check.field(JobIn, "expires_at"),
        "active": check.flag("active", True),
    }
    remote = check.flag("remote", False)
    skills = check.skills(JobIn)
    columns["place"], remote_text = check.location(JobIn)
    salaries, codes = check.composite(JobIn, "salary", SALARY, _salary)
    if problems.found:
        return None
    columns["remote"] = remote | remote_text
    pay = [s.to_salary() if s else None for s in salaries]
    columns |= _attributes(pay, codes, SALARY_COLUMNS)
    return _entities(columns, skills, JOB_COLUMNS)


def _users(table: CsvTable, problems: Problems) -> EntityFrames | None:
    check = _File(table, problems)
    given = check.required(REQUIRED["users.csv"])
    columns = {
        "external_id": check.field(EventIn, "user_id", rows=given["user_id"]),
        "headline": check.field(UserIn, "headline", blank=""),
        "company": check.field(UserIn, "current_company"),
    }
    skills = check.skills(UserIn)
    columns["place"], _ = check.location(UserIn)
    desired, codes = check.composite(UserIn, "desired_salary", DESIRED, _desired)
    if problems.found:
        return None
    columns |= _attributes(desired, codes, DESIRED_COLUMNS)
    return _entities(columns, skills, USER_COLUMNS)


def _attributes(
    values: list[Any], codes: np.ndarray, columns: dict[str, str]
) -> dict[str, np.ndarray]:
    """column -> each row's attribute of its value (`values[codes[i]]`, None: None)."""
    return {
        column: expand([getattr(v, attribute) if v else None for v in values], codes)
        for column, attribute in columns.items()
    }


def _entities(columns: dict[str, Any], skills: np.ndarray, names: tuple[str, ...]) -> EntityFrames:
    """The frames of the rows' entities: one row per id, at its first row's place with
    its last row's values (as a dict of the rows keeps them)."""
    codes, _ = pd.factorize(columns["external_id"])
    last = np.full(codes.max() + 1 if len(codes) else 0, -1, dtype=np.int64)
    np.maximum.at(last, codes, np.arange(len(codes)))
    rows = pd.DataFrame({name: _take(columns[name], last) for name in names})
    kept = skills[last]
    counts = np.fromiter(map(len, kept), dtype=np.int64, count=len(kept))
    if not counts.sum():  # as a frame of no pairs is
        return EntityFrames(rows, pd.DataFrame([], columns=["external_id", "skill"]))
    pairs = {
        "external_id": np.repeat(rows["external_id"].to_numpy(dtype=object), counts),
        "skill": list(chain.from_iterable(kept)),
    }
    return EntityFrames(rows, pd.DataFrame(pairs))


def _take(values: np.ndarray | pd.Series, rows: np.ndarray) -> list[Any] | pd.Series:
    if isinstance(values, pd.Series):
        return values.iloc[rows].reset_index(drop=True)
    return list(values[rows])


def default_event_key(user: str, job: str, kind: str, at: str) -> str:
    """An event's idempotency key when its row gives none: `dataset:<user>:<job>:<type>:
    <time>`, or, past the column's 128 characters (two long ids), a digest of it."""
    key = f"dataset:{user}:{job}:{kind}:{at}"
    if len(key) <= m.IDEMPOTENCY_KEY_LENGTH:
        return key
    return f"dataset:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def _events(table: CsvTable, problems: Problems) -> pd.DataFrame | None:
    check = _File(table, problems)
    given = check.required(REQUIRED["interactions.csv"])
    users = check.field(EventIn, "user_id", rows=given["user_id"])
    jobs = check.field(EventIn, "job_id", rows=given["job_id"])
    types = check.field(EventIn, "type", rows=given["type"])
    keys = check.field(EventIn, "idempotency_key")
    rows = given["timestamp"]
    codes, uniques = texts(check.cells("timestamp").iloc[rows])
    stamps = check.check(field_adapter(EventIn, "timestamp"), uniques, codes, rows, "timestamp")
    if problems.found:
        return None
    aware = [t if t.tzinfo else t.replace(tzinfo=UTC) for t in stamps]
    when = expand([t.isoformat() for t in aware], codes)  # the key names the offset given
    none = [None] * len(when)
    named = [
        key or default_event_key(user, job, kind, at)
        for key, user, job, kind, at in zip(keys, users, jobs, types, when, strict=True)
    ]
    columns = [
        list(users),
        list(jobs),
        list(types),
        expand(aware, codes),
        named,
        none,
        none,
    ]
    return pd.DataFrame(dict(zip(EVENT_COLUMNS, columns, strict=True)))


def _table(path: Path, errors: list[str]) -> CsvTable | None:
    """The file's strings, or None with why not (unreadable, missing columns) added to
    `errors`."""
    try:
        table = read_csv_strings(path)
    except SourceError as exc:
        errors.append(exc.message)
        return None
    missing = table.missing(REQUIRED[path.name])
    if missing:
        errors.append(f"{path.name}: missing columns {missing}")
        return None
    return table


def read_dataset(directory: str | Path) -> Dataset:
    """The dataset's frames, every row validated; DatasetError lists every problem."""
    directory = Path(directory)
    if not (directory / "jobs.csv").is_file():
        raise SourceError(f"{directory / 'jobs.csv'} not found")
    errors: list[str] = []
    built: dict[str, Any] = {}
    lines = np.zeros(0, dtype=np.int64)
    for name, build in (("jobs.csv", _jobs), ("users.csv", _users), ("interactions.csv", _events)):
        path = directory / name
        if not path.is_file():
            continue
        table = _table(path, errors)
        if table is None:
            continue
        problems = Problems(name)
        for line, message in table.bad_rows:
            problems.add(line, "row", message)
        built[name] = build(table, problems)
        errors.extend(problems.messages())
        lines = table.lines if name == "interactions.csv" else lines
    if errors:
        raise DatasetError(errors)
    return Dataset(built["jobs.csv"], built.get("users.csv"), built.get("interactions.csv"), lines)


def import_dataset(
    factory: sessionmaker[Session], directory: str | Path, progress: Progress | None = None
) -> ImportResult:
    """Validate everything, check that events name known users and jobs (in the dataset
    or already in the store), then write."""
    data = read_dataset(directory)
    if data.events is not None:
        _check_known(factory, data)
    return write_frames(
        factory, jobs=data.jobs, users=data.users, events=data.events, progress=progress
    )


def _check_known(factory: sessionmaker[Session], data: Dataset) -> None:
    """DatasetError for the events whose user or job is neither in the dataset nor in
    the store."""
    assert data.events is not None
    problems = Problems("interactions.csv")
    for kind, frames, repository in (
        ("user", data.users, UserRepository),
        ("job", data.jobs, JobRepository),
    ):
        ids = data.events[f"{kind}_id"].tolist()  # a set's lookups: 10x pandas' isin
        ours = set(frames.rows["external_id"].tolist()) if frames is not None else set()
        with session_scope(factory) as session:
            known = ours | repository(session).existing(set(ids) - ours)
        unknown = np.flatnonzero(np.fromiter((x not in known for x in ids), bool, len(ids)))
        for line, ext in zip(data.event_lines[unknown], [ids[i] for i in unknown], strict=True):
            where = f"{kind}s.csv"
            problems.add(int(line), f"{kind}_id", f"{ext!r} is neither in {where} nor in the store")
    if problems.found:
        raise DatasetError(problems.messages())
