"""Importers and the service on the real data of ../shared/data (skipped without it)."""

from __future__ import annotations

import csv
import re
from collections import Counter

import pytest

from app.db import create_db_engine, session_factory, session_scope
from app.importers.glassdoor import company_name, import_glassdoor, read_glassdoor
from app.importers.job_views import import_job_views
from app.main import create_app
from app.migrate import upgrade
from app.repositories import UserRepository, counts
from app.settings import Settings
from ml.salary import parse_salary_text
from tests.support.builders import train_tiny
from tests.support.paths import SHARED_DATA
from tests.support.server import LiveServer

JOB_VIEWS = SHARED_DATA / "job_views"
GLASSDOOR = SHARED_DATA / "glassdoor" / "glassdoor_jobs.csv"
needs_data = pytest.mark.skipif(
    not (JOB_VIEWS / "Jobs.csv").is_file() or not GLASSDOOR.is_file(),
    reason=f"real data not found under {SHARED_DATA} (read-only ../shared/data)",
)
pytestmark = [needs_data, pytest.mark.shared_data]


def rows(path):
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# -- Glassdoor salaries -------------------------------------------------------------------


def independent_annual_range(text: str) -> tuple[float, float] | None:
    """A second, deliberately simple reading of the file's salary strings."""
    if text.strip() == "-1":
        return None
    amounts = [float(n) * (1000 if k else 1) for n, k in re.findall(r"\$(\d+)(K?)", text)]
    assert len(amounts) == 2, text
    factor = 2080 if "per hour" in text.lower() else 1
    return amounts[0] * factor, amounts[1] * factor


def test_every_glassdoor_salary_string_parses_consistently():
    shapes = Counter()
    for row in rows(GLASSDOOR):
        text = row["Salary Estimate"]
        shapes[re.sub(r"\d+", "N", text)] += 1
        salary = parse_salary_text(text)
        expected = independent_annual_range(text)
        if expected is None:
            assert salary is None, text
            continue
        assert salary is not None, text
        assert 0 < salary.minimum <= salary.maximum, text
        assert (salary.annual_min_usd, salary.annual_max_usd) == expected, text
        assert 10_000 <= salary.annual_min_usd <= salary.annual_max_usd <= 1_000_000, text
        assert salary.period == ("hour" if "hour" in text.lower() else "year"), text
    assert len(shapes) >= 5  # every shape of the file was seen, not one easy case


def test_glassdoor_rows_become_clean_jobs():
    source = rows(GLASSDOOR)
    jobs = dict(read_glassdoor(GLASSDOOR))
    assert len(jobs) == len(source)
    for row in source:
        job = jobs[f"glassdoor-{row['']}"]
        assert "\n" not in (job.company or "")
        assert job.company == company_name(row["Company Name"])
        assert (job.salary is None) == (row["Salary Estimate"].strip() == "-1")
    skills = Counter(s for job in jobs.values() for s in job.skills)
    for skill in ("python", "sql", "spark", "aws", "excel", "machine learning", "r"):
        assert skills[skill] > 20, skill
    assert company_name("Tecolote Research\n3.8") == "Tecolote Research"


# -- imports into the store ----------------------------------------------------------------


@pytest.fixture(scope="module")
def real_store(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('real') / 'real.db'}"
    upgrade(url)
    engine = create_db_engine(url)
    factory = session_factory(engine)
    views = import_job_views(factory, JOB_VIEWS)
    glassdoor = import_glassdoor(factory, GLASSDOOR)
    yield url, factory, views, glassdoor
    engine.dispose()


def test_import_counts_match_the_files(real_store):
    _, factory, views, glassdoor = real_store
    job_rows = rows(JOB_VIEWS / "Jobs.csv")
    view_rows = rows(JOB_VIEWS / "Job_Views.csv")
    applicants = {
        r["Applicant.ID"]
        for name in ("Job_Views.csv", "Experience.csv", "Positions_Of_Interest.csv")
        for r in rows(JOB_VIEWS / name)
        if r["Applicant.ID"].strip()
    }
    distinct_views = {(r["Applicant.ID"], r["Job.ID"], r["View.Start"]) for r in view_rows}
    assert views.jobs == len(job_rows) == 7047
    assert views.users == len(applicants)
    assert views.events_read == len(view_rows)
    assert views.events_inserted == len(distinct_views)
    assert glassdoor.jobs == len(rows(GLASSDOOR))
    with session_scope(factory) as s:
        before = counts(s)
    assert before["jobs"] == len(job_rows) + glassdoor.jobs
    assert before["interactions"] == len(distinct_views)
    again = import_job_views(factory, JOB_VIEWS)
    assert again.events_inserted == 0
    with session_scope(factory) as s:
        assert counts(s) == before  # idempotent


def test_profiles_are_as_the_users_stated_them(real_store):
    """Nothing of a profile comes from the views (the cold-start evaluation ranks users
    from their profile against their first view): a user who only viewed has none."""
    _, factory, _, _ = real_store
    with session_scope(factory) as s:
        users = {u.user_id: u for u in UserRepository(s).records()}
    experience = {r["Applicant.ID"] for r in rows(JOB_VIEWS / "Experience.csv")}
    interests = {r["Applicant.ID"] for r in rows(JOB_VIEWS / "Positions_Of_Interest.csv")}
    viewers = {r["Applicant.ID"] for r in rows(JOB_VIEWS / "Job_Views.csv")}
    only_viewed = [users[u] for u in viewers - experience - interests]
    assert only_viewed and not any(u.has_profile for u in only_viewed)
    placed = {u.user_id for u in users.values() if u.place is not None}
    assert placed and placed <= experience  # a place comes from an experience only
    assert all(users[u].headline for u in interests)


# -- the service on real data -------------------------------------------------------------


@pytest.fixture(scope="module")
def real_service(real_store, tmp_path_factory):
    url, factory, _, _ = real_store
    model = train_tiny(factory, tmp_path_factory.mktemp("real-model") / "ckpt", epochs=3)
    server = LiveServer(create_app(Settings(database_url=url, model_path=model))).start()
    with server.client() as client:
        yield client, factory
    server.stop()


@pytest.mark.slow
def test_users_with_local_history_get_jobs_in_their_area(real_service):
    client, _ = real_service
    jobs = {r["Job.ID"]: r for r in rows(JOB_VIEWS / "Jobs.csv")}
    states: dict[str, set[str]] = {}
    for view in rows(JOB_VIEWS / "Job_Views.csv"):
        states.setdefault(view["Applicant.ID"], set()).add(jobs[view["Job.ID"]]["State.Code"])
    viewed = Counter(r["Applicant.ID"] for r in rows(JOB_VIEWS / "Job_Views.csv"))
    local = sorted(u for u, s in states.items() if len(s) == 1 and viewed[u] >= 3)[:25]
    assert len(local) >= 20
    shares = []
    for user_id in local:
        (state,) = states[user_id]
        recs = client.post("/recommend", json={"user_id": user_id}).json()["recommendations"]
        assert len(recs) == 10
        shares.append(
            sum(r["location"] is not None and r["location"].endswith(f", {state}") for r in recs)
            / len(recs)
        )
    assert sum(shares) / len(shares) >= 0.8, shares


@pytest.mark.slow
@pytest.mark.parametrize(
    "request_fields,state,minimum",
    [
        ({"location_preference": "New York, NY", "salary_min": 100000}, "NY", 100000),
        ({"location_preference": "CA", "salary_min": 150000}, "CA", 150000),
        (
            {
                "location": {"city": "Boston", "region": "Massachusetts", "radius_km": 30},
                "salary_min": 40,
                "salary_period": "hour",
            },
            "MA",
            40 * 2080,
        ),
    ],
)
def test_salary_and_location_filters_on_glassdoor_jobs(
    real_service, request_fields, state, minimum
):
    client, _ = real_service
    body = {
        "user_id": "data-scientist-visitor",
        "max_recommendations": 100,
        "profile": {"skills": ["python", "sql", "machine learning"], "headline": "data scientist"},
        **request_fields,
    }
    response = client.post("/recommend", json=body)
    assert response.status_code == 200, response.text
    recs = response.json()["recommendations"]
    assert recs
    for r in recs:
        assert r["salary_annual_max_usd"] >= minimum
        assert r["location"].endswith(f", {state}")
        assert r["job_id"].startswith("glassdoor-")  # job-views jobs state no salary
    # completeness: every Glassdoor job in that place and pay range is there
    expected = set()
    for row in rows(GLASSDOOR):
        annual = independent_annual_range(row["Salary Estimate"])
        if annual is None or annual[1] < minimum:
            continue
        city, _, st = row["Location"].rpartition(", ")
        if st != state:
            continue
        wanted = request_fields.get("location_preference", "")
        if "," in wanted and city != wanted.split(",")[0]:
            continue
        expected.add(f"glassdoor-{row['']}")
    if "location" not in request_fields:  # a radius also admits nearby towns
        assert {r["job_id"] for r in recs} == expected
