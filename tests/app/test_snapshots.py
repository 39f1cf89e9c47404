"""Catalog snapshots: written once, mapped by every process, exactly the catalog a build
makes, and never used for a store they do not describe."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import update

from app import models as m
from app.db import session_scope
from app.repositories import CatalogJob, CatalogReader, JobRepository
from app.schemas import JobIn
from app.serving.catalog import Catalog
from app.serving.filters import JobFilter
from app.serving.ranking import TwoStage, rank
from app.serving.snapshots import JobTable, SnapshotStore
from app.serving.state import ServingState
from ml.arrays import TextArray, read_arrays, write_arrays
from ml.checkpoint import Checkpoint
from ml.locations import Place
from ml.records import JobRecord
from ml.scoring import CatalogScorer
from tests.support.builders import fitted_space, random_model, random_records, serving

ONE_STAGE = TwoStage(min_candidates=10**9, shortlist=2000)
CITIES = ["Austin, TX", "Boston, MA", "Denver, CO", "Remote - US"]
SKILLS = ["python", "sql", "nursing", "cooking", "excel"]


def _checkpoint(seed: int = 3) -> tuple[Checkpoint, list]:
    users, jobs, interactions = random_records(n_users=6, n_jobs=40, seed=seed)
    space = fitted_space(users, jobs, interactions)
    return Checkpoint(random_model(space, seed=seed), space, {"model_version": f"t{seed}"}), users


def _write_jobs(factory, ids: range, title: str = "Job") -> None:
    jobs = [
        (
            f"j{i}",
            JobIn(
                title=f"{title} {i}",
                company=f"Company {i % 7}",
                location=CITIES[i % len(CITIES)],
                skills=[SKILLS[i % 5], SKILLS[(i * 3) % 5]],
                salary={"min": 40_000 + 1000 * i, "max": 60_000 + 1000 * i} if i % 3 else None,
                employment_type="full_time" if i % 2 else None,
            ),
        )
        for i in ids
    ]
    with session_scope(factory) as session:
        JobRepository(session).upsert(jobs)


def _ranked(checkpoint: Checkpoint, catalog: Catalog, users) -> list[dict[str, float]]:
    """Each user's score of every job, rounded to 5 decimals (a delta scores its jobs in
    other batches than a base, which changes the last bits)."""
    out = []
    for user in users:
        ranked, _ = rank(checkpoint, catalog, user, JobFilter(), catalog.size, ONE_STAGE)
        out.append({job.job_id: round(score, 5) for job, score in ranked})
    return out


def _mapped_file(address: int) -> str:
    """The file mapped at `address` in this process ('' for none)."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        span, _, _, _, _, *path = line.split()
        lo, hi = (int(x, 16) for x in span.split("-"))
        if lo <= address < hi:
            return path[0] if path else ""
    return ""


def test_arrays_come_back_mapped_and_equal(tmp_path):
    arrays = {
        "a.int": torch.arange(6).reshape(2, 3),
        "floats": np.linspace(0, 1, 5, dtype=np.float32),
        "texts": np.array(["j1", "job-22", ""]),
        "empty": np.zeros((0, 4), dtype=np.int8),
    }
    write_arrays(tmp_path, arrays)
    back = read_arrays(tmp_path)
    assert set(back) == set(arrays)
    for name, value in arrays.items():
        expected = value.numpy() if isinstance(value, torch.Tensor) else value
        assert back[name].dtype == expected.dtype and np.array_equal(back[name], expected)
    assert isinstance(back["floats"], np.memmap)
    assert list(TextArray(back["texts"])) == ["j1", "job-22", ""]
    with pytest.raises(ValueError, match="letters"):
        write_arrays(tmp_path, {"../x": np.zeros(1)})


def test_a_job_table_decodes_the_jobs_it_encoded():
    at = datetime(2026, 12, 5, 9, 30, 1, 123456, tzinfo=UTC)
    place = Place("Austin", "Texas", "TX", "US", 30.27, -97.74)
    jobs = [
        CatalogJob(
            JobRecord("a", "Cook", "Hot line", ("cooking",), "Diner", place, False, 1.5, 2.5),
            at,
            18.0,
            22.0,
            "USD",
            "hour",
            "part_time",
        ),
        CatalogJob(
            JobRecord("b", "Nurse \u00e9\u6f22", active=True), at, None, None, None, None, None
        ),
    ]
    table = JobTable.encode(jobs)
    assert len(table) == 2 and list(table) == jobs
    assert table[-1] == jobs[1] and table[0:1] == jobs[:1]
    with pytest.raises(IndexError):
        table[2]


def test_a_scorer_on_its_own_arrays_scores_exactly_alike():
    checkpoint, users = _checkpoint()
    _, jobs, _ = random_records(n_users=6, n_jobs=40, seed=3)
    features = checkpoint.space.encode_jobs(jobs)
    built = CatalogScorer(checkpoint.model, checkpoint.space, features)
    again = CatalogScorer(checkpoint.model, checkpoint.space, features, prepared=built.arrays())
    encoded = checkpoint.space.encode_users(users)
    for row in range(len(users)):
        assert torch.equal(built.score(encoded, row), again.score(encoded, row))


def test_the_second_process_maps_the_snapshot_the_first_wrote(factory, tmp_path):
    """The first start builds and writes; the next maps the files (no build) and ranks
    exactly as a catalog built in memory does."""
    checkpoint, users = _checkpoint()
    _write_jobs(factory, range(30))
    store = SnapshotStore(tmp_path)
    first, _ = store.catalog(checkpoint, factory, max_delta=100)
    second, _ = store.catalog(checkpoint, factory, max_delta=100)
    assert len(list(tmp_path.glob("*/meta.json"))) == 1
    assert isinstance(second.base.jobs, JobTable)
    job = second.base.scorer.job
    assert job is not None and _mapped_file(job.s.data_ptr()).endswith("/scorer.job.s.npy")
    assert _mapped_file(second.base.scorer.jobs.skills.data_ptr()).endswith("skills.npy")
    with session_scope(factory) as session:
        built = Catalog.build(CatalogReader(session).jobs(), checkpoint.model, checkpoint.space)
    expected = _ranked(checkpoint, built, users)
    assert _ranked(checkpoint, first, users) == expected
    assert _ranked(checkpoint, second, users) == expected
    assert second.version == built.version and second.find("j7") == built.find("j7")


def test_changes_since_the_snapshot_are_applied_as_a_delta(factory, tmp_path):
    checkpoint, users = _checkpoint()
    _write_jobs(factory, range(30))
    store = SnapshotStore(tmp_path)
    store.catalog(checkpoint, factory, max_delta=100)
    _write_jobs(factory, range(25, 35), title="Changed")  # 5 updated, 5 new
    with session_scope(factory) as session:
        session.execute(update(m.Job).where(m.Job.external_id == "j3").values(active=False))
        session.execute(
            update(m.Job)
            .where(m.Job.external_id == "j3")
            .values(updated_at=datetime.now(UTC) + timedelta(seconds=1))
        )
    catalog, _ = store.catalog(checkpoint, factory, max_delta=100)
    assert len(list(tmp_path.glob("*/meta.json"))) == 1  # no new build
    assert catalog.delta is not None and len(catalog.delta) == 10
    assert catalog.size == 34 and catalog.find("j3") is None
    assert catalog.find("j27").record.title == "Changed 27"
    with session_scope(factory) as session:
        built = Catalog.build(CatalogReader(session).jobs(), checkpoint.model, checkpoint.space)
    assert _ranked(checkpoint, catalog, users) == _ranked(checkpoint, built, users)


def test_more_changes_than_a_delta_holds_build_a_new_snapshot(factory, tmp_path):
    checkpoint, _ = _checkpoint()
    _write_jobs(factory, range(30))
    store = SnapshotStore(tmp_path)
    store.catalog(checkpoint, factory, max_delta=5)
    _write_jobs(factory, range(30, 40))
    catalog, _ = store.catalog(checkpoint, factory, max_delta=5)
    assert len(list(tmp_path.glob("*/meta.json"))) == 2
    assert catalog.delta is None and catalog.size == 40


def test_a_snapshot_of_another_store_at_the_same_url_is_not_used(factory, tmp_path):
    """The store emptied and refilled with fewer, other jobs (as a recreated database
    would be): the snapshot's jobs are not all there any more, so it is rebuilt."""
    checkpoint, _ = _checkpoint()
    _write_jobs(factory, range(30))
    store = SnapshotStore(tmp_path)
    store.catalog(checkpoint, factory, max_delta=100)
    with session_scope(factory) as session:
        session.execute(
            update(m.Job).where(m.Job.external_id.in_(["j1", "j2"])).values(active=False)
        )
        # written before the snapshot: as a job of another database would look
        session.execute(update(m.Job).values(updated_at=datetime.now(UTC) - timedelta(hours=2)))
    catalog, _ = store.catalog(checkpoint, factory, max_delta=100)
    assert len(list(tmp_path.glob("*/meta.json"))) == 2
    assert catalog.size == 28 and catalog.find("j1") is None


def test_another_model_never_reads_this_models_snapshot(factory, tmp_path):
    _write_jobs(factory, range(12))
    store = SnapshotStore(tmp_path)
    first, users = _checkpoint(seed=3)
    store.catalog(first, factory, max_delta=100)
    second, _ = _checkpoint(seed=5)
    catalog, _ = store.catalog(second, factory, max_delta=100)
    assert len(list(tmp_path.glob("*/meta.json"))) == 2
    with session_scope(factory) as session:
        built = Catalog.build(CatalogReader(session).jobs(), second.model, second.space)
    assert _ranked(second, catalog, users) == _ranked(second, built, users)


def test_old_snapshots_are_pruned_and_unreadable_ones_ignored(factory, tmp_path):
    checkpoint, _ = _checkpoint()
    store = SnapshotStore(tmp_path, keep=2)
    for n in range(1, 5):
        _write_jobs(factory, range(10 * n))
        store.catalog(checkpoint, factory, max_delta=1)
    snapshots = sorted(tmp_path.glob("*/meta.json"))
    assert len(snapshots) == 2
    newest = max(snapshots, key=lambda p: json.loads(p.read_text())["synced_at"])
    meta = json.loads(newest.read_text())
    newest.write_text(json.dumps({**meta, "format": "0-old"}))
    catalog, _ = store.catalog(checkpoint, factory, max_delta=100)
    assert catalog.size == 40
    assert len(list(tmp_path.glob("*/meta.json"))) == 2


def test_a_poll_that_outgrows_the_delta_takes_a_snapshot(factory, tmp_path):
    """Serving with snapshots: a change past max_delta makes the new base a snapshot
    (written once for every worker), not a base this process alone holds."""
    checkpoint, _ = _checkpoint()
    _write_jobs(factory, range(20))
    store = SnapshotStore(tmp_path / "snapshots")
    catalog, synced_at = store.catalog(checkpoint, factory, max_delta=3)
    live = serving(
        ServingState(checkpoint, catalog, synced_at),
        factory,
        tmp_path / "none",
        max_delta=3,
        snapshots=store,
    )
    _write_jobs(factory, range(20, 22))
    live.refresh()
    assert live.state.catalog.delta is not None and live.state.catalog.size == 22
    _write_jobs(factory, range(22, 26))
    live.refresh()
    catalog = live.state.catalog
    assert catalog.delta is None and catalog.size == 26 and isinstance(catalog.base.jobs, JobTable)
    assert len(list((tmp_path / "snapshots").glob("*/meta.json"))) == 2
