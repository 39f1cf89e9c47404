"""The recommendation service: model + catalog state, user resolution, filtering, ranking.

`Recommender` owns one immutable `ServingState` (checkpoint + catalog snapshot) and swaps
it atomically; a request reads the state once, so it is answered by one model version
and one catalog version from start to end. Answers are kept for repeated requests until
the model, the catalog or the user changes (`app.results`).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np
import torch
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.catalog import Catalog, CatalogPart
from app.db import session_scope
from app.filters import JobFilter, build_filter
from app.repositories import CatalogJob, Store
from app.results import ResultCache
from app.schemas import UserIn, resolve_location
from ml.checkpoint import Checkpoint, CheckpointError, checkpoint_stamp, load_checkpoint
from ml.data import aggregate_feedback, attach_history
from ml.records import UserRecord

log = logging.getLogger("jobrec.recommender")

REFRESH_OVERLAP = timedelta(seconds=5)  # re-read recent updates: commits can land late
DENSE_SHARE = 0.5  # score a whole catalog part when at least this share passes the filters
# ... and run the first stage's compiled pass over the whole part from this share (950k
# jobs, filtered candidates ranked in 21.6 against 46.9 ms by their own rows at 23% of
# the part, 27.8 against 36.2 at 12%; 23.5 ms by their own rows at 8%)
WHOLE_FIRST_STAGE_SHARE = 0.1
SELECT_SAMPLE = 16_384  # values sampled to find the first stage's shortlist threshold


class NotFoundError(LookupError):
    """A user or job that is not in the store."""


@dataclass(frozen=True)
class ServingState:
    checkpoint: Checkpoint
    catalog: Catalog
    synced_at: datetime  # the store was read at this time (UTC); later changes are not in

    @classmethod
    def read(cls, checkpoint: Checkpoint, factory: sessionmaker[Session]) -> ServingState:
        """The checkpoint with a catalog of the store's active jobs, read now."""
        synced_at = datetime.now(UTC)
        with session_scope(factory) as session:
            jobs = Store(session).catalog_jobs()
        return cls(checkpoint, Catalog.build(jobs, checkpoint.model, checkpoint.space),
                   synced_at)

    @property
    def model_version(self) -> str:
        return self.checkpoint.version


@dataclass(frozen=True)
class Ranked:
    """The top jobs of one request, best first."""

    user_id: str
    cold_start: bool
    jobs: list[tuple[CatalogJob, float]]
    state: ServingState
    scored: int  # candidates the model scored (after filters and any first stage)
    kept: bool = False  # the kept answer to the same request: nothing was scored


@dataclass(frozen=True)
class TwoStage:
    """When a request has more than `min_candidates` candidates, the scorer's cheap first
    stage keeps the best `shortlist` of them and only those get the full ConvFM score."""

    min_candidates: int = 20_000
    shortlist: int = 2000


class Recommender:
    """Scores users against the catalog; thread-safe for concurrent requests."""

    def __init__(self, state: ServingState, factory: sessionmaker[Session], *,
                 refresh_seconds: float = 1.0, max_delta: int = 2000,
                 two_stage: TwoStage = TwoStage(), result_cache_size: int = 10_000) -> None:
        self._state = state
        self.result_cache_size = result_cache_size
        self._results: ResultCache[Kept] = ResultCache(_source(state), result_cache_size)
        self._user_changes: set = set()  # the last poll's (see `refresh_catalog`)
        self.two_stage = two_stage
        self.factory = factory
        self.refresh_seconds = refresh_seconds
        self.max_delta = max_delta
        self._refresh_lock = threading.Lock()
        # Scoring runs on ONE long-lived thread per process: torch already spreads one
        # request's work over TORCH_THREADS, concurrent scoring would only oversubscribe
        # the cores and multiply the peak memory of the intermediates, and every thread
        # that runs torch keeps its own spinning intra-op pool (one per request thread
        # otherwise).
        threads = torch.get_num_threads()
        self._scoring = ThreadPoolExecutor(1, thread_name_prefix="scoring",
                                           initializer=torch.set_num_threads,
                                           initargs=(threads,))
        self._last_check = time.monotonic()
        # the checkpoint on disk this state came from (None: not watched)
        self.model_path: str | None = None
        self._stamp: tuple[int, int] | None = None
        self._reloading = threading.Event()

    @classmethod
    def start(cls, model_path, factory: sessionmaker[Session], **options) -> Recommender:
        """Load the checkpoint (raises CheckpointError) and build the catalog. The
        checkpoint is then watched: see `refresh_catalog`."""
        stamp = checkpoint_stamp(model_path)
        recommender = cls(_load_state(model_path, factory), factory, **options)
        recommender.model_path, recommender._stamp = str(model_path), stamp
        recommender.warm_up()
        return recommender

    def warm_up(self) -> None:
        """Rank once for a user with nothing known, on the scoring thread: its first
        torch work (intra-op pool, kernels) is paid here, not by the first request
        (about 0.2 s)."""
        self._scoring.submit(rank, self._state, UserRecord(user_id=""), JobFilter(), 1,
                             self.two_stage).result()

    def reload(self, model_path) -> ServingState:
        """Load a checkpoint and a fresh catalog beside the serving state, then swap them
        in at once. On any error (CheckpointError, database) the old state keeps serving;
        requests in flight finish on the state they started with."""
        with self._refresh_lock:
            stamp = checkpoint_stamp(model_path)
            state = _load_state(model_path, self.factory)
            self._serve(state)
            self.model_path, self._stamp = str(model_path), stamp
            self._last_check = time.monotonic()
        return state

    def _watch_checkpoint(self) -> None:
        """When a new checkpoint has landed at `model_path` (another worker's
        /admin/reload, or a retrain writing there), reload it in the background; the
        current state serves meanwhile. A checkpoint that fails to load is logged and
        not retried until it changes again."""
        if self.model_path is None or self._reloading.is_set():
            return
        stamp = checkpoint_stamp(self.model_path)
        if stamp is None or stamp == self._stamp:
            return
        self._reloading.set()

        def reload() -> None:
            try:
                state = self.reload(self.model_path)
                log.info("checkpoint changed on disk: now serving %s", state.model_version)
            except (CheckpointError, SQLAlchemyError) as exc:
                self._stamp = stamp
                log.warning("checkpoint changed on disk but did not load: %s", exc)
            finally:
                self._reloading.clear()

        threading.Thread(target=reload, name="checkpoint-reload", daemon=True).start()

    @property
    def state(self) -> ServingState:
        return self._state

    def _serve(self, state: ServingState) -> None:
        """Swap `state` in; kept answers go with the model or catalog they came from."""
        if not _same(_source(state), self._results.owner):
            self._results = ResultCache(_source(state), self.result_cache_size)
        self._state = state

    def user_changed(self, user_id: str) -> None:
        """Forget the kept answers of a user whose profile or events this process just
        wrote (other processes' writes are found by `refresh_catalog`)."""
        self._results.evict([user_id])

    # -- catalog freshness ------------------------------------------------------------

    def refresh_catalog(self, session: Session, *, force: bool = False) -> None:
        """Apply jobs changed in the store since the last sync, forget the kept answers
        of users changed since then, and reload the checkpoint when a new one has landed
        on disk (so every worker process follows one /admin/reload or retrain, and sees
        every other worker's writes, within `refresh_seconds`).

        Runs at most every `refresh_seconds` unless forced; one thread refreshes while
        the others keep serving the current snapshot.
        """
        now = time.monotonic()
        if not force and now - self._last_check < self.refresh_seconds:
            return
        if not self._refresh_lock.acquire(blocking=force):
            return
        try:
            self._last_check = now
            self._watch_checkpoint()
            state = self._state
            # A job invisible at the last sync was written (updated_at, the writer's
            # clock) at most REFRESH_OVERLAP before it, as commits land late: read
            # back from there, not from the newest job, or a bulk import would be
            # re-read on every check.
            synced_at = datetime.now(UTC)
            since = state.synced_at - REFRESH_OVERLAP
            store = Store(session)
            if self.result_cache_size:
                # a change stays in the window for REFRESH_OVERLAP: evict for it once
                changes = store.user_changes(since)
                self._results.evict({user for user, *_ in changes - self._user_changes})
                self._user_changes = changes
            changed = [job_id for job_id, at in store.job_versions(since)
                       if not state.catalog.is_current(job_id, at)]
            catalog = state.catalog
            if changed:
                changes = store.catalog_jobs(external_ids=changed)
                catalog = catalog.apply(changes, state.checkpoint.model,
                                        state.checkpoint.space, max_delta=self.max_delta)
            self._serve(replace(state, catalog=catalog, synced_at=synced_at))
        finally:
            self._refresh_lock.release()

    # -- recommending -------------------------------------------------------------------

    def resolve_user(self, store: Store, user_id: str, profile: UserIn | None,
                     history_depth: int) -> tuple[UserRecord, set[str], bool]:
        """The user's record from the store (skills, place, company, and the jobs they
        liked as history, by the training rules), with an inline profile on top.

        Returns (record, ids of every job the user interacted with, cold_start); raises
        NotFoundError for an unknown user without a profile.
        """
        stored = store.user_records([user_id])
        if not stored and profile is None:
            raise NotFoundError(f"user {user_id!r} not found; send an inline 'profile' to "
                                "score a user who is not in the store")
        record = stored[0] if stored else UserRecord(user_id=user_id)
        seen: set[str] = set()
        if stored:
            events = store.interactions(user_id)
            seen = {e.job_id for e in events}
            feedback = aggregate_feedback(events)
            liked_ids = [f.job_id for f in feedback if f.label > 0]
            # history jobs still in the catalog come from memory, the others from the store
            catalog = self._state.catalog
            in_memory = [job.record for job in map(catalog.find, liked_ids) if job]
            known = {job.job_id for job in in_memory}
            missing = [j for j in liked_ids if j not in known]
            liked = in_memory + (store.job_records(external_ids=missing) if missing else [])
            (record,) = attach_history([record], feedback, liked, history_depth)
        if profile is not None:
            given = profile.model_fields_set
            updates = {}
            if "skills" in given:
                updates["skills"] = tuple(profile.skills)
            if "headline" in given:
                updates["headline"] = profile.headline
            if "location" in given:
                updates["place"] = resolve_location(profile.location).place
            if "current_company" in given:
                updates["company"] = profile.current_company
            if "desired_salary" in given:
                updates["desired_salary_usd"] = (profile.desired_salary.annual_usd
                                                 if profile.desired_salary else None)
            record = replace(record, **updates)
        return record, seen, not stored

    def kept(self, request) -> Ranked | None:
        """The kept answer to `request`, if there is one and the store was checked for
        changes within `refresh_seconds`; else None (then call `recommend`). It never
        waits for the database or the model: safe to call on the event loop."""
        if time.monotonic() - self._last_check >= self.refresh_seconds:
            return None  # a check of the store is due: `recommend` makes it first
        state, results = self._state, self._results
        if not _same(_source(state), results.owner):
            return None
        return self._kept(state, results, request.model_dump_json(), request)

    @staticmethod
    def _kept(state: ServingState, results: ResultCache[Kept], key: str,
              request) -> Ranked | None:
        kept = results.get(key)
        if kept is None:
            return None
        return Ranked(user_id=request.user_id, cold_start=kept.cold_start, jobs=kept.jobs,
                      state=state, scored=0, kept=True)

    def recommend(self, session: Session, request, *, fresh: bool = False) -> Ranked:
        """Top `max_recommendations` jobs passing every filter of `request`: the kept
        answer to the same request while the model, the catalog and the user are
        unchanged (unless `fresh`), else scored now (and kept)."""
        self.refresh_catalog(session)
        state, results = self._state, self._results
        keep = _same(_source(state), results.owner)  # else a swap is under way: score
        key = request.model_dump_json()
        if keep and not fresh and (ranked := self._kept(state, results, key, request)):
            return ranked
        ticket = results.ticket()  # before the user's data is read
        store = Store(session)
        user, seen, cold_start = self.resolve_user(
            store, request.user_id, request.profile, state.checkpoint.space.config.max_history)
        job_filter = build_filter(request, seen=seen, known_city=state.catalog.has_city)
        session.close()  # give the connection back to the pool while the model works
        jobs, scored = self._scoring.submit(rank, state, user, job_filter,
                                            request.max_recommendations,
                                            self.two_stage).result()
        ranked = Ranked(user_id=request.user_id, cold_start=cold_start, jobs=jobs,
                        state=state, scored=scored)
        if keep:
            results.put(key, request.user_id, ticket, Kept(cold_start, jobs))
        return ranked


@dataclass(frozen=True)
class Kept:
    """A kept answer: what a `Ranked` holds beyond the request and the serving state."""

    cold_start: bool
    jobs: list[tuple[CatalogJob, float]]


def _source(state: ServingState) -> tuple:
    """What a state's answers depend on: its checkpoint and its catalog's content."""
    return (state.checkpoint, *state.catalog.content)


def _same(a: tuple, b: tuple) -> bool:
    return all(x is y for x, y in zip(a, b, strict=True))


def _load_state(model_path, factory: sessionmaker[Session]) -> ServingState:
    state = ServingState.read(load_checkpoint(model_path), factory)
    # The catalog is millions of long-lived objects at 1M jobs: move them out of the
    # cyclic garbage collector's generations, or each full collection walks them all
    # (hundreds of ms, stalling whichever request triggers it).
    gc.freeze()
    return state


@torch.inference_mode()
def rank(state: ServingState, user: UserRecord, job_filter: JobFilter, k: int,
         two_stage: TwoStage = TwoStage()) -> tuple[list[tuple[CatalogJob, float]], int]:
    """Score every catalog job that passes the filter (batched), keep the top k; past
    `two_stage.min_candidates` candidates, only the first stage's shortlist is scored.
    Returns ([(job, score)] best first, number of candidates scored)."""
    space = state.checkpoint.space
    users = space.encode_users([user])
    # the user's side of the model is the same for every catalog part: compute it once
    user_parts = state.catalog.base.scorer.user_parts(users, 0)
    found: list[tuple[float, CatalogJob]] = []
    scored = 0
    for part, visible in state.catalog.parts():
        top, n = _top(part, visible, users, user_parts, job_filter, k, two_stage)
        found.extend(top)
        scored += n
    found.sort(key=lambda item: -item[0])
    return [(job, score) for score, job in found[:k]], scored


def _top(part: CatalogPart, visible, users, user_parts, job_filter: JobFilter, k: int,
         two_stage: TwoStage) -> tuple[Sequence[tuple[float, CatalogJob]], int]:
    if not len(part):
        return [], 0
    mask = job_filter.mask(part)
    if visible is not None:
        mask &= visible
    n = int(np.count_nonzero(mask))
    if not n:
        return [], 0
    scorer = part.scorer
    two_stages = n > two_stage.min_candidates
    # most of the part passes: scoring all of it and dropping the rest is cheaper than
    # gathering the candidates' precomputed parts
    whole = n >= (WHOLE_FIRST_STAGE_SHARE if two_stages else DENSE_SHARE) * len(part)
    rows = None if whole else np.flatnonzero(mask)
    candidates = None if whole else torch.from_numpy(rows)
    rejected = torch.from_numpy(~mask) if whole and n < len(part) else None
    if two_stages:
        if candidates is None:  # the whole part: its pair features factored
            pairs = scorer.pair_table(users, 0, stand_in=True)
        else:
            pairs = scorer.pair_features(users, 0, candidates, stand_in=True)
        cheap = scorer.first_stage(users, 0, candidates, user_parts, pairs, exact=False)
        if rejected is not None:
            cheap.masked_fill_(rejected, -torch.inf)
        keep = largest(cheap, min(two_stage.shortlist, n))
        if candidates is None:
            chosen, kept = keep, pairs.rows(keep)
        else:
            chosen, kept = candidates.index_select(0, keep), pairs.index_select(0, keep)
        kept = scorer.mend_pairs(users, 0, chosen, kept)
        scores = scorer.score(users, 0, chosen, user_parts, kept)
        return _best(part, scores, k, len(keep), chosen.numpy())
    scores = scorer.score(users, 0, candidates, user_parts)
    if rejected is not None:
        scores.masked_fill_(rejected, -1.0)  # below every probability
    return _best(part, scores, k, n, rows)


def largest(values: torch.Tensor, m: int) -> torch.Tensor:
    """Indices of the m largest `values` [n], in no order.

    A strided sample of the values gives a threshold that about 2m of them pass; one
    comparison keeps those and a partition of the few survivors picks the m: O(n) with a
    small constant (2,000 of 950k first-stage scores: 0.48 ms against 11.7 ms for a
    partition of every value, which is the fallback when fewer than m pass). Ties at the
    cut are broken arbitrarily, as by any partition.
    """
    n = len(values)
    if m >= n:
        return torch.arange(n)
    v = values.numpy()
    sample = v[:: max(1, n // SELECT_SAMPLE)]
    above = min(len(sample) - 1, 2 * m * len(sample) // n)
    threshold = np.partition(sample, len(sample) - 1 - above)[len(sample) - 1 - above]
    passed = np.flatnonzero(v >= threshold)
    if len(passed) < m:
        passed = np.arange(n)
    cut = len(passed) - m
    return torch.from_numpy(passed[np.argpartition(v[passed], cut)[cut:]])


def _best(part: CatalogPart, scores: torch.Tensor, k: int, n: int, rows: np.ndarray | None
          ) -> tuple[list[tuple[float, CatalogJob]], int]:
    """The top k of `scores` (over `rows` of the part, or over every row) and n."""
    top = torch.topk(scores, min(k, n))
    index = top.indices.numpy() if rows is None else rows[top.indices.numpy()]
    return [(float(s), part.jobs[i]) for s, i in zip(top.values.tolist(), index.tolist(),
                                                        strict=True)], n
