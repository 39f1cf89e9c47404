"""Ranking inside the service: filters over whole parts, the two-stage path for very large
catalogs, and the catalog refresh from the store."""

import logging
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import torch
from sqlalchemy import update

from app import models as m
from app.db import session_scope
from app.repositories import CatalogJob, CatalogReader, JobRepository
from app.schemas import JobIn
from app.serving.catalog import Catalog, TextColumn
from app.serving.filters import JobFilter
from app.serving.ranking import (
    DENSE_SHARE,
    SELECT_SAMPLE,
    WHOLE_FIRST_STAGE_SHARE,
    TwoStage,
    largest,
)
from app.serving.ranking import rank as rank_catalog
from app.serving.state import REFRESH_OVERLAP, Serving, ServingState
from ml.checkpoint import METADATA_FILE, Checkpoint, save_checkpoint
from tests.support.builders import fitted_space, random_model, random_records, serving

ONE_STAGE = TwoStage(min_candidates=10**9, shortlist=2000)


def rank(state: ServingState, user, job_filter: JobFilter, k: int, two_stage: TwoStage = ONE_STAGE):
    return rank_catalog(state.checkpoint, state.catalog, user, job_filter, k, two_stage)


def _state(seed: int = 4):
    users, jobs, interactions = random_records(n_users=6, n_jobs=60, seed=seed)
    space = fitted_space(users, jobs, interactions)
    model = random_model(space, seed=seed)
    now = datetime.now(UTC)
    catalog = Catalog.build([_at(j, now) for j in jobs], model, space)
    state = ServingState(
        Checkpoint(model, space, {"model_version": "test"}), catalog, synced_at=datetime.now(UTC)
    )
    return state, users


def _at(job, updated_at: datetime) -> CatalogJob:
    return CatalogJob(job, updated_at, None, None, None, None, None)


def _catalog_of_fifty():
    """(users, 60 jobs, space, model, a catalog of the first 50 jobs updated now)."""
    users, jobs, interactions = random_records(n_users=6, n_jobs=60, seed=6)
    space = fitted_space(users, jobs, interactions)
    model = random_model(space, seed=6)
    now = datetime.now(UTC)
    return users, jobs, space, model, Catalog.build([_at(j, now) for j in jobs[:50]], model, space)


@pytest.mark.parametrize("max_delta", [1000, 5])
def test_applied_changes_rank_like_a_catalog_built_from_scratch(max_delta):
    """Updated, deactivated and new jobs land in a delta part (max_delta 1000) or are
    merged into a new base that reuses the kept jobs' encoded features (max_delta 5):
    either way the catalog ranks exactly as one built from the resulting jobs."""
    users, jobs, space, model, catalog = _catalog_of_fifty()
    t1 = datetime.now(UTC) + timedelta(seconds=1)
    changes = (
        [replace(j, title=j.title + " senior", skills=j.skills[:1]) for j in jobs[:3]]
        + [replace(j, active=False) for j in jobs[3:6]]
        + jobs[50:]
    )
    applied = catalog.apply([_at(j, t1) for j in changes], model, space, max_delta=max_delta)
    assert (applied.delta is None) == (max_delta == 5)
    assert applied.builds == (2 if max_delta == 5 else 1)
    current = {j.job_id: j for j in jobs[:50]} | {j.job_id: j for j in changes}
    fresh = Catalog.build([_at(j, t1) for j in current.values()], model, space)
    assert applied.size == fresh.size == 57
    state = ServingState(Checkpoint(model, space, {"model_version": "test"}), applied, synced_at=t1)
    fresh_state = replace(state, catalog=fresh)
    for user in users:
        got, n = rank(state, user, JobFilter(), 57)
        want, n_fresh = rank(fresh_state, user, JobFilter(), 57)
        assert n == n_fresh == 57
        assert [j.job_id for j, _ in got] == [j.job_id for j, _ in want]
        assert max(abs(a - b) for (_, a), (_, b) in zip(got, want, strict=True)) < 1e-5


def test_a_change_to_jobs_the_catalog_does_not_rank_keeps_its_content():
    """An inactive job the snapshot does not hold (imported closed, or closed twice) is
    recorded, so it is not read again, but the snapshot ranks the same objects: answers
    kept for it stay valid. Any change to a ranked job gives new content."""
    _, jobs, space, model, catalog = _catalog_of_fifty()
    t1 = datetime.now(UTC) + timedelta(seconds=1)
    closed = _at(replace(jobs[55], active=False), t1)
    applied = catalog.apply([closed], model, space, max_delta=2000)
    assert all(a is b for a, b in zip(applied.content, catalog.content, strict=True))
    assert applied.is_current(closed.job_id, t1) and not catalog.is_current(closed.job_id, t1)
    closing = _at(replace(jobs[0], active=False), t1)
    after = applied.apply([closing], model, space, max_delta=2000)
    assert after.base_visible is not applied.base_visible
    assert after.size == applied.size - 1


def test_two_stage_with_a_shortlist_of_everything_equals_full_scoring():
    state, users = _state()
    for user in users:
        full, n_full = rank(state, user, JobFilter(), 10)
        staged, n_staged = rank(
            state,
            user,
            JobFilter(),
            10,
            TwoStage(min_candidates=1, shortlist=len(state.catalog.base)),
        )
        assert n_full == n_staged == len(state.catalog.base)
        assert [j.job_id for j, _ in full] == [j.job_id for j, _ in staged]


def test_two_stage_reranks_only_the_first_stage_shortlist():
    state, users = _state()
    scorer = state.catalog.base.scorer
    space = state.checkpoint.space
    for row, user in enumerate(users):
        staged, scored = rank(state, user, JobFilter(), 5, TwoStage(min_candidates=1, shortlist=12))
        assert scored == 12
        encoded = space.encode_users([user])
        shortlist = torch.topk(scorer.first_stage(encoded, 0, exact=False), 12).indices.tolist()
        ids = {state.catalog.base.jobs[i].job_id for i in shortlist}
        assert len(staged) == 5 and {j.job_id for j, _ in staged} <= ids
        full_scores = scorer.score(encoded, 0)
        best_of_shortlist = sorted((full_scores[i].item() for i in shortlist), reverse=True)[:5]
        assert [round(s, 6) for _, s in staged] == [round(s, 6) for s in best_of_shortlist], row


@pytest.mark.parametrize("n, m", [(10, 3), (5000, 2000), (100_000, 2000), (300_000, 7)])
@pytest.mark.parametrize("kind", ["random", "ties", "ascending", "blocked", "sampled-high"])
def test_shortlist_holds_the_m_largest_values(n, m, kind):
    """`largest` (sampled threshold, then a partition of what passes) picks the same
    values as a full sort, whatever their layout, including where the sample misses
    all but the largest few values (the fallback)."""
    generator = torch.Generator().manual_seed(n + m)
    values = torch.randn(n, generator=generator)
    if kind == "ties":
        values = values.round()
    elif kind == "ascending":
        values = values.sort().values
    elif kind == "blocked":  # filtered rows are -inf in the first stage
        values[torch.rand(n, generator=generator) < 0.9] = -torch.inf
    elif kind == "sampled-high":  # the sampled positions hold the largest values
        values[:: max(1, n // SELECT_SAMPLE)] += 100
    picked = largest(values, m)
    assert len(picked) == len(set(picked.tolist())) == m
    assert sorted(values[picked].tolist()) == sorted(values.tolist())[-m:]


def test_a_text_column_matches_like_the_strings_it_encodes():
    texts = np.array(["ca", "", "tx", "ca", "ny", "tx", "ca"], dtype=str)
    column = TextColumn.of(texts.tolist())
    assert len(column) == len(texts) and column.codes.dtype == np.int32
    for text in ("ca", "", "tx", "ny", "wa", "c", "zz"):  # present, absent, between, after
        assert np.array_equal(column.equals(text), texts == text)
    for wanted in (["ca", "ny"], ["wa"], [], ["", "tx", "wa"]):
        assert np.array_equal(column.isin(wanted), np.isin(texts, wanted))
    empty = TextColumn.of([])
    assert len(empty.equals("ca")) == 0 and len(empty.isin(["ca"])) == 0


def test_filtered_ranking_equals_the_best_passing_jobs_whatever_the_share_passing():
    """Many passing (the whole part is scored, the rest dropped) or few (only they are
    scored), in one stage or two (whose first stage takes the whole part from a tenth
    passing): always exactly the best k passing jobs, with their own scores."""
    state, users = _state()
    part = state.catalog.base
    space = state.checkpoint.space
    ids = [j.job_id for j in part.jobs]
    assert WHOLE_FIRST_STAGE_SHARE < 12 / 60 < DENSE_SHARE
    for excluded in (ids[:5], ids[12:], ids[5:]):  # 55 of 60 pass, 12 of 60, 5 of 60
        for user in users:
            ranked, scored = rank(state, user, JobFilter(excluded_ids=frozenset(excluded)), 8)
            scores = part.scorer.score(space.encode_users([user]), 0)
            best = sorted(
                ((scores[i].item(), ids[i]) for i in range(len(ids)) if ids[i] not in excluded),
                reverse=True,
            )[:8]
            assert scored == len(ids) - len(excluded)
            assert [j.job_id for j, _ in ranked] == [i for _, i in best]
            assert max(abs(s - b) for (_, s), (b, _) in zip(ranked, best, strict=True)) < 1e-5
            # two stages with a shortlist of every passing job: the same list
            staged, n = rank(
                state,
                user,
                JobFilter(excluded_ids=frozenset(excluded)),
                8,
                TwoStage(min_candidates=1, shortlist=len(ids)),
            )
            assert n == scored and [j.job_id for j, _ in staged] == [i for _, i in best]


def test_refresh_reads_only_what_changed_near_the_last_sync(factory, monkeypatch, tmp_path):
    """A job committed late (written shortly before the last sync) is picked up, and
    jobs written long before it are not read again on every check."""
    users, jobs, interactions = random_records(n_users=4, n_jobs=12, seed=2)
    space = fitted_space(users, jobs, interactions)
    old = datetime.now(UTC) - timedelta(hours=1)
    with session_scope(factory) as session:
        JobRepository(session).upsert([(f"j{i}", JobIn(title=f"Job {i}")) for i in range(10)])
        session.execute(update(m.Job).values(updated_at=old))
    checkpoint = Checkpoint(random_model(space), space, {"model_version": "test"})
    live = serving(ServingState.read(checkpoint, factory), factory, tmp_path / "none")
    synced = live.state.synced_at
    read: list[int] = []
    versions = CatalogReader.versions
    here = threading.get_ident()  # not the pollers of servers other tests keep running

    def counted(self, since):
        out = versions(self, since)
        if threading.get_ident() == here:
            read.append(len(out))
        return out

    monkeypatch.setattr(CatalogReader, "versions", counted)
    live.refresh()
    assert read == [0]  # nothing near the sync: the ten old jobs are not re-read
    with session_scope(factory) as session:
        JobRepository(session).upsert([("late", JobIn(title="Late")), ("new", JobIn(title="New"))])
        session.execute(
            update(m.Job)
            .where(m.Job.external_id == "late")
            .values(updated_at=synced - REFRESH_OVERLAP / 2)
        )
    live.refresh()
    catalog = live.state.catalog
    assert read[-1] == 2 and catalog.size == 12
    assert catalog.find("late") is not None and catalog.find("new") is not None


def test_a_new_checkpoint_on_disk_is_picked_up_by_every_worker(factory, tmp_path, caplog):
    """Each worker process watches MODEL_PATH: a checkpoint written there (another
    worker's /admin/reload, a retrain) is loaded in the background on the next check;
    one that fails to load is logged, the old model keeps serving, and it is not retried
    until it changes again."""
    users, jobs, interactions = random_records(n_users=4, n_jobs=12, seed=2)
    space = fitted_space(users, jobs, interactions)
    with session_scope(factory) as session:
        JobRepository(session).upsert([(f"j{i}", JobIn(title=f"Job {i}")) for i in range(5)])
    path = tmp_path / "model"
    first = save_checkpoint(path, random_model(space, seed=1), space)["model_version"]
    recommender = Serving.load(
        path,
        factory,
        refresh_seconds=1.0,
        max_delta=2000,
        result_cache_size=100,
        popularity_refresh_seconds=30,
        trending_half_life=timedelta(hours=72),
    )
    assert recommender.state.model_version == first

    def refreshed() -> None:
        recommender.refresh()
        deadline = time.monotonic() + 60
        while recommender._reloading.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)

    refreshed()
    assert recommender.state.model_version == first  # nothing new: no reload
    time.sleep(0.01)  # a new mtime even on coarse clocks
    second = save_checkpoint(path, random_model(space, seed=2), space)["model_version"]
    assert second != first
    refreshed()
    assert recommender.state.model_version == second
    assert recommender.state.catalog.size == 5
    (path / METADATA_FILE).write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="jobrec.serving"):
        refreshed()
        refreshed()
    assert recommender.state.model_version == second  # the old model keeps serving
    failures = [r for r in caplog.records if "did not load" in r.getMessage()]
    assert len(failures) == 1  # tried once, not on every check


def test_the_poller_applies_another_writers_jobs_without_a_request(factory, tmp_path):
    """The store is polled on a background thread every refresh_seconds: a job written
    by someone else (another worker, an import) is served without any request paying for
    the poll."""
    users, jobs, interactions = random_records(n_users=4, n_jobs=12, seed=2)
    space = fitted_space(users, jobs, interactions)
    checkpoint = Checkpoint(random_model(space), space, {"model_version": "test"})
    live = serving(
        ServingState.read(checkpoint, factory), factory, tmp_path / "none", refresh_seconds=0.05
    )
    live.start_polling()
    try:
        with session_scope(factory) as session:
            JobRepository(session).upsert([("elsewhere", JobIn(title="Written elsewhere"))])
        deadline = time.monotonic() + 10
        while live.state.catalog.find("elsewhere") is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert live.state.catalog.find("elsewhere") is not None
    finally:
        live.close()
    assert live._poller is None
