"""`jobrec import dataset`: column-wise validation against the row-by-row reference
(tests/support/dataset_rows.py), and imports into the store on each backend."""

from __future__ import annotations

import csv
import os
import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from app.db import session_scope
from app.errors import SourceError
from app.importers.dataset import (
    DatasetError,
    default_event_key,
    import_dataset,
    read_dataset,
)
from app.migrate import upgrade
from app.repositories import EventRepository, JobRepository, UserRepository, as_utc, counts
from benchmarks.import_dataset import write_dataset
from tests.support.dataset_rows import reference
from tests.support.paths import REPO

# (valid values, tricky values) of each column: a tricky value may be valid too
LONG_SKILLS = ";".join(f"skill{i}" for i in range(101))
STAMPS = (
    ["2024-01-01T10:00:00Z", "2024-01-01", "2024-03-01T10:00:00+05:30", "2024-02-01 09:30"],
    [
        "2024-13-01",
        "yesterday",
        "1700000000",
        "2024-01-01T25:00",
        "2024-01-01T10:00:00.123456-07:00",
    ],
)
BOOLS = (["", "true", "false"], ["TRUE", "Yes", "n", "0", "T", "maybe", "on", "2"])
JOBS = {
    "job_id": (
        [f"j{i}" for i in range(40)],
        ["", "  ", " j5 ", "x" * 64, "x" * 65, "j\x01", "ü-42"],
    ),
    "title": (
        ["Data Scientist", "Line Cook", "Nurse"],
        [
            "",
            "   ",
            " Nurse ",
            "T" * 300,
            "T" * 301,
            "Café crème",
            "職位",
            "\u00a0Cook\u00a0",
            "a\nb",
        ],
    ),
    "description": (["", "Python and SQL"], ["line one\nline two", "d" * 50_001, '"quoted"']),
    "company": (["", "Acme", "Globex"], ["C" * 201, " Globex ", "Ünïcode GmbH"]),
    "location": (
        ["", "Austin, TX", "Paris, France"],
        ["Remote", "Remote - US", "L" * 201, "Nowhere Land", "  Boston, MA "],
    ),
    "city": ([""], ["Lyon", "Austin", "C" * 201]),
    "region": ([""], ["TX", "California"]),
    "country": ([""], ["France", "US", "Atlantis"]),
    "latitude": ([""], ["45.76", "91", "abc", "30.27"]),
    "longitude": ([""], ["4.84", "-181", "x", "-97.74"]),
    "remote": BOOLS,
    "skills": (
        ["", "python;sql", "cooking"],
        ["python; ;sql;python", ";;", " java ", LONG_SKILLS, "s" * 101, "c++;c#", "Ü-skill"],
    ),
    "salary_min": (["", "100000"], ["abc", "-5", "1,000", "1e10", "nan", "50", "1e9"]),
    "salary_max": (["", "150000"], ["40", "x", "1e9", "inf"]),
    "salary_currency": ([""], ["EUR", "usd", "XYZ", "GBP"]),
    "salary_period": ([""], ["hour", "fortnight", "month"]),
    "employment_type": (["", "full_time"], ["gig", "contract", "Full_Time"]),
    "posted_at": ([""], STAMPS[0] + STAMPS[1]),
    "expires_at": ([""], STAMPS[0] + STAMPS[1]),
    "active": BOOLS,
}
USERS = {
    "user_id": ([f"u{i}" for i in range(30)], ["", "y" * 65, " u3 "]),
    "headline": (["", "Data person"], ["h" * 2001, "  spaced  ", "multi\nline"]),
    "location": JOBS["location"],
    "city": JOBS["city"],
    "country": JOBS["country"],
    "latitude": JOBS["latitude"],
    "longitude": JOBS["longitude"],
    "current_company": JOBS["company"],
    "skills": JOBS["skills"],
    "desired_salary": (["", "120000"], ["-1", "abc", "45", "2e9"]),
    "desired_salary_currency": ([""], ["EUR", "eur", "XYZ"]),
    "desired_salary_period": ([""], ["hour", "decade"]),
}
EVENTS = {
    "user_id": ([f"u{i}" for i in range(30)], ["", "y" * 65]),
    "job_id": ([f"j{i}" for i in range(40)], ["", "x" * 65]),
    "type": (["view", "click", "apply"], ["", "like", "VIEW", "dismiss"]),
    "timestamp": (STAMPS[0], ["", *STAMPS[1]]),
    "idempotency_key": ([""], ["k1", "k" * 129, "  ", "k1"]),
}


def corpus(columns: dict, rng: random.Random, rows: int) -> list[dict[str, str]]:
    """One row per tricky value (the rest valid), then `rows` rows with each cell tricky
    one time in ten."""
    out = []
    for name, (_, tricky) in columns.items():
        for value in tricky:
            row = {c: rng.choice(valid) for c, (valid, _) in columns.items()}
            out.append({**row, name: value})
    for _ in range(rows):
        out.append(
            {
                c: rng.choice(tricky if rng.random() < 0.1 else valid)
                for c, (valid, tricky) in columns.items()
            }
        )
    return out


def write(path: Path, rows: list[dict[str, str]], columns) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)


def errors_of(directory: Path) -> list[str]:
    try:
        read_dataset(directory)
    except DatasetError as exc:
        return exc.errors
    return []


def in_utc(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """Times as the store keeps them: UTC instants (a time without an offset is UTC)."""
    as_utc = {c: pd.to_datetime(frame[c].astype(object), utc=True) for c in columns}
    return frame.assign(**{c: t.astype("datetime64[us, UTC]") for c, t in as_utc.items()})


def assert_same_frames(directory: Path) -> None:
    jobs, users, events, errors = reference(directory)
    assert not errors and jobs is not None and events is not None
    jobs.rows = in_utc(jobs.rows, "posted_at", "expires_at")
    events = in_utc(events, "occurred_at")
    got = read_dataset(directory)
    got.jobs.rows = in_utc(got.jobs.rows, "posted_at", "expires_at")
    assert got.events is not None
    got.events = in_utc(got.events, "occurred_at")
    for mine, theirs in ((got.jobs, jobs), (got.users, users)):
        assert theirs is not None and mine is not None
        pd.testing.assert_frame_equal(mine.rows, theirs.rows)
        pd.testing.assert_frame_equal(mine.skills, theirs.skills)
    pd.testing.assert_frame_equal(got.events, events)


def test_columnwise_validation_agrees_with_the_row_by_row_reference(tmp_path):
    rng = random.Random(7)
    files = {"jobs.csv": JOBS, "users.csv": USERS, "interactions.csv": EVENTS}
    tricky, clean = tmp_path / "tricky", tmp_path / "clean"
    tricky.mkdir()
    clean.mkdir()
    for name, columns in files.items():
        write(tricky / name, corpus(columns, rng, 600), columns)
    *_, expected = reference(tricky)
    found = errors_of(tricky)
    assert sorted(found) == sorted(expected)  # each error once, none missing
    assert len(expected) > 500
    for where in ("title", "salary", "location", "remote", "skills", "timestamp", "type"):
        assert any(f": {where}" in e for e in expected), where
    # the rows the reference accepts, on their own: the same frames, value for value
    for name, columns in files.items():
        bad = {int(e.split(":")[1]) for e in expected if e.startswith(f"{name}:")}
        with (tricky / name).open(newline="", encoding="utf-8") as fh:
            rows = [r for n, r in enumerate(csv.DictReader(fh), start=2) if n not in bad]
        assert len(rows) > 50, name
        write(clean / name, rows, columns)
    assert_same_frames(clean)


# -- into the store ---------------------------------------------------------------------

JOBS_CSV = (
    "job_id,title,description,company,location,city,region,country,latitude,longitude,"
    "remote,skills,salary_min,salary_max,salary_currency,salary_period,employment_type,"
    "posted_at,expires_at,active\n"
    'j1, Data Scientist ,"Python and\nSQL",Acme,"Austin, TX",,,,,,false,'
    "python;SQL; ;python,100000,150000,,,full_time,2024-01-01T10:00:00Z,,yes\n"
    "j2,Cook,,Diner,,Lyon,,France,45.76,4.84,,cooking,18,22,EUR,hour,part_time,"
    "2024-01-02T00:00:00+02:00,2024-03-01T00:00:00Z,\n"
    "j3,Remote Dev,,,Remote - US,,,,,,no,,,,,,,,,FALSE\n"
)
USERS_CSV = (
    "user_id,headline,location,current_company,skills,desired_salary,"
    "desired_salary_currency,desired_salary_period\n"
    'u1,Data person,"Seattle, WA",Globex,python;sql,140000,,\n'
    "u2,Nurse,,,,45,,hour\n"
)
EVENTS_CSV = (
    "user_id,job_id,type,timestamp,idempotency_key\n"
    "u1,j1,view,2024-02-01T10:00:00,\n"
    "u1,j2,apply,2024-02-01T12:00:00+02:00,k1\n"
    "u2,j3,dismiss,2024-02-02T08:00:00Z,\n"
)


def dataset(folder: Path, **files: str) -> Path:
    """`folder` holding the given files (jobs=..., users=..., interactions=...)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / f"{name}.csv").write_text(content, encoding="utf-8")
    return folder


def stored(factory) -> dict[str, int]:
    with session_scope(factory) as session:
        return counts(session)


def test_a_dataset_round_trips_into_the_store(factory, tmp_path):
    from ml.salary import to_annual_usd

    folder = dataset(tmp_path / "d", jobs=JOBS_CSV, users=USERS_CSV, interactions=EVENTS_CSV)
    result = import_dataset(factory, folder)
    assert (result.jobs, result.users, result.events_read, result.events_inserted) == (3, 2, 3, 3)
    with session_scope(factory) as session:
        jobs = {j: JobRepository(session).get(j) for j in ("j1", "j2", "j3")}
        users = {u: UserRepository(session).get(u) for u in ("u1", "u2")}
        events = EventRepository(session).interactions()
    j1, j2, j3 = jobs["j1"], jobs["j2"], jobs["j3"]
    assert (j1.title, j1.description, j1.company.name) == (
        "Data Scientist",
        "Python and\nSQL",
        "Acme",
    )
    assert (j1.place.city, j1.place.region_code, j1.remote, j1.active) == (
        "Austin",
        "TX",
        False,
        True,
    )
    assert sorted(s.name for s in j1.skills) == ["python", "sql"]
    assert (j1.salary_min, j1.salary_max, j1.salary_currency, j1.salary_period) == (
        100000,
        150000,
        "USD",
        "year",
    )
    assert (j1.employment_type, j1.posted_at.isoformat()[:19]) == (
        "full_time",
        "2024-01-01T10:00:00",
    )
    assert (j2.place.city, j2.place.latitude, j2.place.longitude) == ("Lyon", 45.76, 4.84)
    assert j2.salary_annual_min_usd == pytest.approx(to_annual_usd(18, "EUR", "hour"))
    assert j2.salary_annual_max_usd == pytest.approx(to_annual_usd(22, "EUR", "hour"))
    assert (as_utc(j2.posted_at), as_utc(j2.expires_at)) == (
        datetime(2024, 1, 1, 22, tzinfo=UTC),  # 2024-01-02T00:00:00+02:00
        datetime(2024, 3, 1, tzinfo=UTC),
    )
    assert j2.company.name == "Diner"
    assert (j3.remote, j3.active, j3.company, j3.salary_min) == (True, False, None, None)
    u1, u2 = users["u1"], users["u2"]
    assert (u1.headline, u1.place.city, u1.company.name) == ("Data person", "Seattle", "Globex")
    assert sorted(s.name for s in u1.skills) == ["python", "sql"]
    assert (u1.desired_salary_annual_usd, u2.desired_salary_period) == (140000, "hour")
    assert u2.desired_salary_annual_usd == pytest.approx(to_annual_usd(45, "USD", "hour"))
    assert (u2.place, u2.company, u2.skills) == (None, None, [])
    seen = sorted((e.user_id, e.job_id, e.type, e.timestamp.isoformat()) for e in events)
    assert seen == [
        ("u1", "j1", "view", "2024-02-01T10:00:00+00:00"),  # naive: UTC
        ("u1", "j2", "apply", "2024-02-01T10:00:00+00:00"),
        ("u2", "j3", "dismiss", "2024-02-02T08:00:00+00:00"),
    ]
    before = stored(factory)
    again = import_dataset(factory, folder)
    assert (again.jobs, again.users, again.events_inserted) == (3, 2, 0)
    assert stored(factory) == before
    with session_scope(factory) as session:
        assert JobRepository(session).get("j1").title == "Data Scientist"


def test_invalid_rows_are_all_listed_and_nothing_is_written(factory, tmp_path):
    jobs = (
        "job_id,title,remote,salary_min,salary_max,latitude\n"
        "j1,,maybe,,,\n"
        "j2,Cook,,30,20,\n"
        "j3,Fine,,,,45\n"
        "j4,Fine too,,,,\n"
    )
    events = "user_id,job_id,type,timestamp\nu1,j4,like,2024-13-01\n,j4,view,\n"
    folder = dataset(tmp_path / "d", jobs=jobs, interactions=events)
    with pytest.raises(DatasetError) as caught:
        import_dataset(factory, folder)
    errors = caught.value.errors
    assert errors[:3] == [
        "jobs.csv:2: title: required, but empty",
        "jobs.csv:2: remote: not a boolean: 'maybe'",
        "jobs.csv:3: salary: Value error, salary maximum 20.0 is below minimum 30.0",
    ]
    assert any(
        e.startswith("jobs.csv:4: location.") and "latitude and longitude" in e for e in errors
    )
    assert errors[-4:] == [
        "interactions.csv:2: type: Input should be 'impression', 'view', 'click', 'apply', "
        "'save' or 'dismiss'",
        "interactions.csv:2: timestamp: Input should be a valid datetime or date, month value "
        "is outside expected range of 1-12",
        "interactions.csv:3: user_id: required, but empty",
        "interactions.csv:3: timestamp: required, but empty",
    ]
    assert "nothing was imported" in str(caught.value)
    assert not any(stored(factory).values())


def test_an_event_naming_an_unknown_id_is_refused(factory, tmp_path):
    events = EVENTS_CSV + "u9,j1,view,2024-02-03T00:00:00Z,\nu1,j9,view,2024-02-03T00:00:00Z,\n"
    folder = dataset(tmp_path / "d", jobs=JOBS_CSV, users=USERS_CSV, interactions=events)
    with pytest.raises(DatasetError) as caught:
        import_dataset(factory, folder)
    assert caught.value.errors == [
        "interactions.csv:5: user_id: 'u9' is neither in users.csv nor in the store",
        "interactions.csv:6: job_id: 'j9' is neither in jobs.csv nor in the store",
    ]
    assert not any(stored(factory).values())
    # ids already in the store are known: u1 and j1 are named by a later dataset's events
    import_dataset(factory, dataset(tmp_path / "first", jobs=JOBS_CSV, users=USERS_CSV))
    later = "job_id,title\nj9,New job\n"
    events = (
        "user_id,job_id,type,timestamp\n"
        "u1,j9,view,2024-02-03T00:00:00Z\nu2,j1,click,2024-02-03T00:00:00Z\n"
    )
    result = import_dataset(factory, dataset(tmp_path / "later", jobs=later, interactions=events))
    assert (result.jobs, result.users, result.events_inserted) == (1, 0, 2)


def test_events_of_two_long_ids_get_a_key_that_fits_and_import_once(factory, tmp_path):
    user, job = "u" * 64, "j" * 64  # the default key would be 164 characters
    folder = dataset(
        tmp_path / "d",
        jobs=f"job_id,title\n{job},Cook\n",
        users=f"user_id\n{user}\n",
        interactions=f"user_id,job_id,type,timestamp\n{user},{job},view,2024-02-01T10:00:00Z\n",
    )
    assert import_dataset(factory, folder).events_inserted == 1
    assert import_dataset(factory, folder).events_inserted == 0  # the same key again
    key = default_event_key(user, job, "view", "2024-02-01T10:00:00+00:00")
    assert key.startswith("dataset:sha256:") and len(key) <= 128
    assert default_event_key("u1", "j1", "view", "t") == "dataset:u1:j1:view:t"


def test_missing_files_and_columns(tmp_path):
    with pytest.raises(SourceError, match=r"jobs\.csv not found"):
        read_dataset(dataset(tmp_path / "none", users=USERS_CSV))
    folder = dataset(
        tmp_path / "d",
        jobs="job_id,description\nj1,x\n",
        users="headline\nx\n",
        interactions="user_id,job_id,type\nu1,j1,view\n",
    )
    with pytest.raises(DatasetError) as caught:
        read_dataset(folder)
    assert caught.value.errors == [
        "jobs.csv: missing columns ['title']",
        "users.csv: missing columns ['user_id']",
        "interactions.csv: missing columns ['timestamp']",
    ]


def test_files_of_a_header_only_import_nothing(factory, tmp_path):
    folder = dataset(
        tmp_path / "d",
        jobs="job_id,title\n",
        users="user_id\n",
        interactions="user_id,job_id,type,timestamp\n",
    )
    result = import_dataset(factory, folder)
    assert (result.jobs, result.users, result.events_read, result.events_inserted) == (0, 0, 0, 0)
    assert not any(stored(factory).values())


def test_a_generated_dataset_of_20k_rows_imports(factory, tmp_path):
    write_dataset(tmp_path / "d", jobs=12_000, users=1_000, events=7_000, seed=3)
    result = import_dataset(factory, tmp_path / "d")
    assert (result.jobs, result.users, result.events_read) == (12_000, 1_000, 7_000)
    events = pd.read_csv(tmp_path / "d" / "interactions.csv")
    distinct = len(events.drop_duplicates())
    assert result.events_inserted == distinct
    got = stored(factory)
    assert (got["jobs"], got["users"], got["interactions"]) == (12_000, 1_000, distinct)


@pytest.mark.slow  # two runs of the console script: ~4 s
def test_jobrec_import_dataset_reports_counts_and_errors(tmp_path):
    """The console script as a user runs it (on SQLite: the backends are the tests'
    above): the counts, or every error and exit 1."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    env = {**os.environ, "DATABASE_URL": url}

    def jobrec(folder: Path) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "app.cli", "import", "dataset", str(folder)]
        return subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)

    bad = jobrec(dataset(tmp_path / "bad", jobs="job_id,title\nj1,\nj2,ok\nj3,\n"))
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "2 errors; nothing was imported" in bad.stderr
    assert "jobs.csv:2: title: required, but empty" in bad.stderr
    assert "jobs.csv:4: title: required, but empty" in bad.stderr
    folder = dataset(tmp_path / "d", jobs=JOBS_CSV, users=USERS_CSV, interactions=EVENTS_CSV)
    good = jobrec(folder)
    assert good.returncode == 0, good.stderr
    assert "users 2, jobs 3, events read 3, events inserted 3" in good.stderr
