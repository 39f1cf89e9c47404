"""`jobrec import job-views DIR`: the raw files of the Kaggle job-views export.

* Jobs.csv: every job (also the never-viewed ones). Title = the position (the export's
  "Title" repeats it with "@ Company"); the industry, when given, is the description.
* Job_Views.csv: one `view` event per row, at View.Start; exact duplicate rows (same
  user, job and start) collapse through the idempotency key.
* Experience.csv and Positions_Of_Interest.csv: user profiles, as the users stated
  them. The headline lists the positions of interest, then past position names, most
  recent first; the place is that of the most recent experience with a city; the
  company is the employer of the most recent experience (current positions, those
  without an end date, first). Nothing is taken from the views: a profile filled in
  from the jobs a user viewed would hand the cold-start evaluation (`jobrec evaluate
  --cold-start`, which ranks users from their profile alone against their first view)
  its own answer.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from app.errors import SourceError
from app.importers import ImportResult, Progress, write_all
from app.importers.tables import read_csv_strings
from app.repositories import EventRow
from app.schemas import JobIn, PlaceIn, UserIn

MISSING = {"", "NA", "N/A", "NULL", "None", "nan"}
Row = dict[str, str]


def _value(row: Row, key: str) -> str | None:
    value = (row.get(key) or "").strip()
    return None if value in MISSING else value


def _read(path: Path, required: set[str]) -> list[Row]:
    if not path.is_file():
        raise SourceError(f"{path} not found")
    table = read_csv_strings(path, strip=False)
    missing = table.missing(required)
    if missing:
        raise SourceError(f"{path.name} lacks columns {missing}")
    table.check_rows()
    return table.records()


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    text = text.replace(" UTC", "").strip()
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def _place(row: Row) -> PlaceIn | None:
    city, state = _value(row, "City"), _value(row, "State.Code") or _value(row, "State.Name")
    if not (city or state):
        return None
    return PlaceIn(city=city, region=state, country="US")


def _title(row: Row) -> str:
    position = _value(row, "Position")
    if position:
        return position[:300]
    title = _value(row, "Title") or "Untitled"
    return title.split(" @ ")[0][:300]


def read_job_views(
    directory: str | Path,
) -> tuple[list[tuple[str, JobIn]], list[tuple[str, UserIn]], list[EventRow]]:
    """(jobs, users, events) of the export, ready for `write_all`: the files are read
    (every required column checked first), then each part is built in turn."""
    directory = Path(directory)
    job_rows = _read(
        directory / "Jobs.csv",
        {"Job.ID", "Title", "Position", "Company", "City", "State.Name", "State.Code"},
    )
    view_rows = _read(directory / "Job_Views.csv", {"Applicant.ID", "Job.ID", "View.Start"})
    experience = _read(
        directory / "Experience.csv",
        {
            "Applicant.ID",
            "Position.Name",
            "Employer.Name",
            "City",
            "State.Code",
            "Start.Date",
            "End.Date",
        },
    )
    interests = _read(
        directory / "Positions_Of_Interest.csv", {"Applicant.ID", "Position.Of.Interest"}
    )
    jobs = _jobs(job_rows)
    events, viewers = _views(view_rows, jobs)
    users = _profiles(experience, interests, viewers)
    return list(jobs.items()), users, events


def _jobs(rows: list[Row]) -> dict[str, JobIn]:
    jobs: dict[str, JobIn] = {}
    for row in rows:
        job_id = _value(row, "Job.ID")
        if job_id is None:
            continue
        industry = _value(row, "Industry")
        jobs[job_id] = JobIn(
            title=_title(row),
            company=(_value(row, "Company") or "")[:200] or None,
            location=_place(row),
            description=f"Industry: {industry}" if industry else "",
        )
    return jobs


def _views(rows: list[Row], jobs: dict[str, JobIn]) -> tuple[list[EventRow], set[str]]:
    """One `view` per row of a known job, and the users who viewed one."""
    events: list[EventRow] = []
    viewers: set[str] = set()
    for row in rows:
        user_id, job_id, start = (
            _value(row, "Applicant.ID"),
            _value(row, "Job.ID"),
            _time(_value(row, "View.Start")),
        )
        if user_id is None or job_id is None or start is None or job_id not in jobs:
            continue
        key = f"jobviews:{user_id}:{job_id}:{start.isoformat()}"
        events.append(EventRow(user_id, job_id, "view", start, key))
        viewers.add(user_id)
    return events, viewers


def _profiles(
    experience: list[Row], interests: list[Row], viewers: set[str]
) -> list[tuple[str, UserIn]]:
    history: dict[str, list[Row]] = defaultdict(list)
    for row in experience:
        if (applicant := _value(row, "Applicant.ID")) is not None:
            history[applicant].append(row)
    wanted: dict[str, list[str]] = defaultdict(list)
    for row in interests:
        user_id, position = _value(row, "Applicant.ID"), _value(row, "Position.Of.Interest")
        if user_id and position and position not in wanted[user_id]:
            wanted[user_id].append(position)
    return [
        (user_id, _profile(history.get(user_id, []), wanted.get(user_id, [])))
        for user_id in sorted(set(history) | set(wanted) | viewers)
    ]


def _profile(history: list[Row], wanted: list[str]) -> UserIn:
    """A user's profile from their experience and their positions of interest."""
    # most recent first: current positions (no end date), then by start date
    past = sorted(
        history,
        key=lambda r: (_value(r, "End.Date") is None, _value(r, "Start.Date") or ""),
        reverse=True,
    )
    titles = list(wanted)
    for row in past:
        name = _value(row, "Position.Name")
        if name and name not in titles:
            titles.append(name)
    place = next((p for p in map(_place, past) if p is not None and p.city), None)
    employer = next((e for e in (_value(r, "Employer.Name") for r in past) if e), None)
    return UserIn(
        headline="; ".join(titles)[:2000],
        location=place,
        current_company=employer[:200] if employer else None,
    )


def import_job_views(
    factory: sessionmaker[Session], directory: str | Path, progress: Progress | None = None
) -> ImportResult:
    jobs, users, events = read_job_views(directory)
    return write_all(factory, jobs=jobs, users=users, events=events, progress=progress)
