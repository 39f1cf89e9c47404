"""Bulk loads (`app.repositories.bulk`) on SQLite and PostgreSQL, and the column-wise
demo generator they carry."""

import uuid
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from app import importers
from app import models as m
from app.db import create_db_engine, session_factory, session_scope
from app.demo import SKILL_NAMES, generate_demo
from app.errors import NotFoundError
from app.importers import event_frame, write_frames
from app.migrate import upgrade
from app.repositories import (
    EventRepository,
    EventRow,
    JobRepository,
    UserRepository,
    as_utc,
    bulk,
)
from app.repositories.base import counts
from app.repositories.bulk import BulkLoader
from app.repositories.frames import job_frames
from app.schemas import JobIn, UserIn


def test_events_keep_their_order_and_unknown_ids_write_nothing(factory):
    with session_scope(factory) as s:
        JobRepository(s).upsert([("j1", JobIn(title="A")), ("j2", JobIn(title="B"))])
        UserRepository(s).upsert([("u1", UserIn())])
    t = datetime(2026, 3, 1, 12, tzinfo=UTC)
    events = [
        EventRow("u1", "j2", "impression", t, "k1"),
        EventRow("u1", "j1", "impression", t, "k2"),  # same time: the frame's order holds
        EventRow("u1", "j1", "view", t + timedelta(seconds=3), "k3", "slate-1", 2),
        EventRow("u1", "j1", "view", t + timedelta(seconds=3), "k3"),  # repeated key
        EventRow("u1", "j2", "apply", t + timedelta(seconds=9)),  # no key: always new
    ]
    with session_scope(factory) as s:
        assert BulkLoader(s).events(event_frame(events)) == 4
    with session_scope(factory) as s:
        assert BulkLoader(s).events(event_frame(events)) == 1  # only the keyless one
        got = [(i.job_id, i.type) for i in EventRepository(s).interactions()]
    assert got == [
        ("j2", "impression"),
        ("j1", "impression"),
        ("j1", "view"),
        ("j2", "apply"),
        ("j2", "apply"),
    ]
    ghost = event_frame([EventRow("u1", "j1", "save", t, "k9"), EventRow("ghost", "j1", "view", t)])
    with pytest.raises(NotFoundError, match="ghost"), session_scope(factory) as s:
        BulkLoader(s).events(ghost)
    with session_scope(factory) as s:
        assert counts(s)["interactions"] == 5  # the good row of the failed batch too: none


def test_a_batch_replaces_skills_and_keeps_the_last_duplicate(factory):
    with session_scope(factory) as s:
        BulkLoader(s).jobs(
            *_frames([("j1", JobIn(title="A", skills=["Python", "SQL"], location="Austin, TX"))])
        )
    with session_scope(factory) as s:
        BulkLoader(s).jobs(
            *_frames(
                [
                    ("j1", JobIn(title="B", skills=["Go"])),
                    ("j1", JobIn(title="C", skills=["Rust", "rust"], company="Acme")),
                ]
            )
        )
    with session_scope(factory) as s:
        (job,) = JobRepository(s).records()
    assert (job.title, job.skills, job.company, job.place) == ("C", ("rust",), "Acme", None)


def test_demo_frames_write_in_batches_and_again_change_nothing(factory):
    data = generate_demo(n_users=30, n_jobs=45, seed=5)
    events = data.events.assign(idempotency_key=[f"t:{i}" for i in range(len(data.events))])
    heard = []
    first = write_frames(
        factory,
        jobs=data.jobs,
        users=data.users,
        events=events,
        batch=20,
        progress=lambda table, done, total: heard.append((table, done, total)),
    )
    assert (first.jobs, first.users, first.events_inserted) == (45, 31, len(events))
    assert ("jobs", 45, 45) in heard and ("jobs", 20, 45) in heard
    again = write_frames(factory, jobs=data.jobs, users=data.users, events=events, batch=1000)
    assert again.events_inserted == 0
    with session_scope(factory) as s:
        stored = {j.job_id: j for j in JobRepository(s).records()}
    rows = data.jobs.rows.set_index("external_id")
    for job_id in ("j1", "j45"):
        want = rows.loc[job_id]
        skills = data.jobs.skills[data.jobs.skills["external_id"] == job_id]["skill"]
        assert stored[job_id].title == want["title"]
        assert stored[job_id].skills == tuple(sorted(skills))
        assert stored[job_id].salary_annual_max_usd == pytest.approx(
            None if pd.isna(want["salary_annual_max_usd"]) else want["salary_annual_max_usd"]
        )


def test_many_events_are_written_by_two_transactions_at_once_on_postgresql(factory, monkeypatch):
    """Past PARALLEL_EVENTS (lowered here) PostgreSQL takes the events in two parts by
    user: every event once, each user's in their order; SQLite, and events whose key is
    in both parts, in one."""
    data = generate_demo(n_users=40, n_jobs=60, seed=3)
    events = data.events.assign(idempotency_key=[f"p:{i}" for i in range(len(data.events))])
    write_frames(factory, jobs=data.jobs, users=data.users)
    monkeypatch.setattr(importers, "PARALLEL_EVENTS", 10)
    parts = importers._event_parts(factory, events)
    postgres = factory.kw["bind"].dialect.name == "postgresql"
    assert len(parts) == (2 if postgres else 1)
    assert sum(map(len, parts)) == len(events)
    assert not set(parts[0]["user_id"]) & set(parts[-1]["user_id"]) or not postgres
    shared = events.assign(idempotency_key=["same"] * len(events))
    assert len(importers._event_parts(factory, shared)) == 1
    heard = []
    written = write_frames(
        factory, events=events, batch=50, progress=lambda *said: heard.append(said)
    )
    assert written.events_inserted == len(events) and heard[-1] == ("events",) + (len(events),) * 2
    assert write_frames(factory, events=events).events_inserted == 0
    with session_scope(factory) as s:  # by row id: the order they were inserted in
        stored = s.execute(
            text(
                "SELECT u.external_id, j.external_id, i.type FROM interactions i "
                "JOIN users u ON u.id = i.user_id JOIN jobs j ON j.id = i.job_id ORDER BY i.id"
            )
        ).all()
    for user, rows in list(events.groupby("user_id", sort=False))[:10]:
        mine = [(job, kind) for who, job, kind in stored if who == user]
        assert mine == list(zip(rows["job_id"], rows["type"], strict=True))


def _frames(items):
    frames = job_frames(items)
    return frames.rows, frames.skills


# -- the demo's world ----------------------------------------------------------------


def test_utility_of_some_jobs_equals_the_whole_row_and_the_brute_force_overlap():
    world = generate_demo(n_users=20, n_jobs=60, seed=2).world
    rows = np.array([5, 0, 59, 17])
    for u in (0, 7, 20):
        np.testing.assert_allclose(world.utility(u, rows), world.utility(u)[rows])
        mine = world.users.skills[u]
        for j in rows:
            theirs = set(SKILL_NAMES[np.flatnonzero(world.jobs.skills[j])])
            expected = len(mine & theirs) / max(np.sqrt(len(mine) * len(theirs)), 1.0)
            assert world.overlaps(u, np.array([j]))[0] == pytest.approx(expected)


def test_slates_are_distinct_active_jobs_even_on_a_tiny_board():
    for n_jobs in (1, 5, 40):
        data = generate_demo(n_users=6, n_jobs=n_jobs, seed=4)
        active = {f"j{j + 1}" for j in np.flatnonzero(data.jobs.rows["active"])}
        assert set(data.events["job_id"]) <= active
        shown = data.events[
            (data.events["user_id"] == "u1") & (data.events["type"] == "impression")
        ]
        first_slate = shown["job_id"].tolist()[: min(12, len(active))]
        assert len(first_slate) == len(set(first_slate)) == min(12, len(active))


def test_text_that_looks_like_the_null_marker_survives(factory):
    odd = [("j1", JobIn(title="\\N", description="")), ("j2", JobIn(title='a "b",\nc'))]
    with session_scope(factory) as s:
        BulkLoader(s).jobs(*_frames(odd))
    with session_scope(factory) as s:
        got = {j.job_id: (j.title, j.description) for j in JobRepository(s).records()}
    assert got == {"j1": ("\\N", ""), "j2": ('a "b",\nc', "")}


@pytest.mark.parametrize("arrow", [True, False], ids=["arrow-csv", "psycopg-rows"])
def test_missing_values_empty_texts_offsets_and_floats_round_trip(factory, monkeypatch, arrow):
    """Both ways of filling a staging table (Arrow's CSV, and psycopg's rows where Arrow
    cannot type a column) keep NULL apart from "", times at their instant, floats exact."""
    if not arrow:
        monkeypatch.setattr(bulk, "_arrow_csv", lambda frame: None)
    posted = datetime(2026, 3, 1, 12, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    jobs = [
        ("j1", JobIn(title="A", description="", company=None, posted_at=posted)),
        ("j2", JobIn(title="B", description="x", salary={"min": 0.1 + 0.2, "max": 1e9 / 3})),
    ]
    with session_scope(factory) as s:
        BulkLoader(s).jobs(*_frames(jobs))
    with session_scope(factory) as s:
        got = {j.external_id: j for j in s.scalars(select(m.Job))}
    assert (got["j1"].description, got["j1"].company_id) == ("", None)
    assert as_utc(got["j1"].posted_at) == posted  # SQLite gives it back naive, at UTC
    assert (got["j2"].salary_min, got["j2"].salary_max) == (0.1 + 0.2, 1e9 / 3)


def test_arrow_cannot_type_a_mixed_column_so_the_rows_go_through_psycopg():
    assert bulk._arrow_csv(pd.DataFrame({"a": [1, "x"]})) is None
    assert bulk._arrow_csv(pd.DataFrame({"a": ["", None, "\\N"]})) == b'""\n\n"\\N"\n'


def test_foreign_keys_hold_again_after_a_bulk_write(factory):
    with session_scope(factory) as s:
        JobRepository(s).upsert([("j1", JobIn(title="A", skills=["sql"]))])
        UserRepository(s).upsert([("u1", UserIn())])
    t = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with pytest.raises(Exception, match=r"(?i)foreign key"), session_scope(factory) as s:
        BulkLoader(s).events(event_frame([EventRow("u1", "j1", "view", t, "k1")]))
        s.execute(
            text(
                "INSERT INTO interactions (user_id, job_id, type, occurred_at, created_at) "
                "VALUES (999, 999, 'view', '2026-01-01', '2026-01-01')"
            )
        )
    with session_scope(factory) as s:
        assert counts(s)["interactions"] == 0


@pytest.mark.postgresql
def test_a_role_that_is_not_a_superuser_keeps_the_per_row_checks(tmp_path, pg_databases):
    """Only a superuser may turn the foreign-key triggers off; any other role writes the
    same rows through them."""
    if pg_databases is None:
        pytest.skip("PostgreSQL not reachable (set TEST_DATABASE_URL to run these)")
    url = pg_databases.create()
    upgrade(url)
    role = f"jobrec_plain_{uuid.uuid4().hex[:8]}"
    admin = create_db_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}"))
        conn.execute(text(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}"))
    plain = create_db_engine(make_url(url).set(username=role).render_as_string(False))
    try:
        factory = session_factory(plain)
        with session_scope(factory) as s:
            loader = BulkLoader(s)
            assert not loader._may_skip_triggers()
            loader.jobs(*_frames([("j1", JobIn(title="A", skills=["sql"]))]))
            UserRepository(s).upsert([("u1", UserIn())])
        t = datetime(2026, 3, 1, 12, tzinfo=UTC)
        with session_scope(factory) as s:
            assert BulkLoader(s).events(event_frame([EventRow("u1", "j1", "view", t, "k")])) == 1
        with session_scope(factory) as s:
            (job,) = JobRepository(s).records()
            assert job.skills == ("sql",) and counts(s)["interactions"] == 1
    finally:
        plain.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
        admin.dispose()
