"""The serving state of one process: a checkpoint and a catalog snapshot, swapped at once,
and the background poller that keeps them fresh.

`Serving.state` is one immutable `ServingState`; a request reads it once, so it is
answered by one model version and one catalog version from start to end. Every
`refresh_seconds` a background thread (never a request) polls the store: jobs changed
since the last poll are applied to a new catalog snapshot, users changed since then lose
their kept answers, and a new checkpoint is loaded beside the serving one and swapped
in: the registry's production version once one is promoted (`jobrec models promote`),
otherwise whatever lands at MODEL_PATH. Writes this process makes are applied at once by their
services (`apply_jobs`, `user_changed`); others' (another worker, an import) within
`refresh_seconds`.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.db import session_scope
from app.repositories import CatalogReader, UserRepository
from app.repositories.catalog import PopularityReader
from app.repositories.experiments import ExperimentRepository
from app.repositories.registry import RegistryRepository
from app.repositories.users import UserChange
from app.serving.baselines import Signals
from app.serving.catalog import REFRESH_OVERLAP, Catalog
from app.serving.results import Kept, ResultCache, StoredUser
from app.serving.snapshots import SnapshotStore
from app.serving.variants import VariantModels
from ml.checkpoint import Checkpoint, CheckpointError, checkpoint_stamp, load_checkpoint

log = logging.getLogger("jobrec.serving")

MIN_POLL_SECONDS = 0.05  # the poller's pause when asked to poll continuously (0)
# A kept answer is served while the last poll is at most refresh_seconds + this old; a
# poller that cannot reach the store (an outage) stops them after that.
POLL_GRACE_SECONDS = 2.0


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
            jobs = CatalogReader(session).jobs()
        return cls(checkpoint, Catalog.build(jobs, checkpoint.model, checkpoint.space), synced_at)

    @property
    def model_version(self) -> str:
        return self.checkpoint.version

    @property
    def source(self) -> tuple[object, ...]:
        """What the state's answers depend on: its checkpoint and its catalog's content."""
        return (self.checkpoint, *self.catalog.content)


def _same(source: tuple[object, ...], owner: object) -> bool:
    """Whether kept answers owned by `owner` were computed from `source`."""
    return isinstance(owner, tuple) and all(x is y for x, y in zip(source, owner, strict=True))


def serving_path(model_path: str | Path, factory: sessionmaker[Session]) -> str:
    """The checkpoint to serve: the registry's production version, else `model_path`."""
    with session_scope(factory) as session:
        production = RegistryRepository(session).production()
    return production.path if production is not None else str(model_path)


def load_state(
    model_path: str | Path,
    factory: sessionmaker[Session],
    snapshots: SnapshotStore | None = None,
    *,
    max_delta: int = 0,
) -> ServingState:
    """The checkpoint at `model_path` (raises CheckpointError) and a catalog of the
    store's active jobs now: from `snapshots` when given (a snapshot mapped, with up to
    `max_delta` changes since applied), else built in this process."""
    checkpoint = load_checkpoint(model_path)
    if snapshots is None:
        state = ServingState.read(checkpoint, factory)
    else:
        catalog, synced_at = snapshots.catalog(checkpoint, factory, max_delta=max_delta)
        state = ServingState(checkpoint, catalog, synced_at)
    # The catalog is millions of long-lived objects at 1M jobs: move them out of the
    # cyclic garbage collector's generations, or each full collection walks them all
    # and stalls whichever request triggers it.
    gc.freeze()
    return state


class Serving:
    """The state this process serves, and what keeps it fresh; thread-safe."""

    def __init__(
        self,
        state: ServingState,
        factory: sessionmaker[Session],
        *,
        model_path: str | Path,
        refresh_seconds: float,
        max_delta: int,
        result_cache_size: int,
        popularity_refresh_seconds: float,
        trending_half_life: timedelta,
        snapshots: SnapshotStore | None = None,
    ) -> None:
        self._state = state
        self.snapshots = snapshots
        self.variants = VariantModels(popularity_refresh_seconds)
        self.trending_half_life = trending_half_life
        self.factory = factory
        self.model_path = str(model_path)
        self.refresh_seconds = refresh_seconds
        self.max_delta = max_delta
        self.result_cache_size = result_cache_size
        self._results: ResultCache[Kept] = ResultCache(state.source, result_cache_size)
        self._users: ResultCache[StoredUser] = ResultCache(state.source, result_cache_size)
        self.served_path = self.model_path  # where the served checkpoint was loaded from
        self._stamp = checkpoint_stamp(model_path)  # the checkpoint on disk served now
        self._lock = threading.Lock()  # one refresh or reload at a time
        self._user_changes: set[UserChange] = set()  # the last poll's
        self._polled_at = time.monotonic()
        self._reloading = threading.Event()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    @classmethod
    def load(
        cls,
        model_path: str | Path,
        factory: sessionmaker[Session],
        *,
        refresh_seconds: float,
        max_delta: int,
        result_cache_size: int,
        popularity_refresh_seconds: float,
        trending_half_life: timedelta,
        snapshots: SnapshotStore | None = None,
    ) -> Serving:
        """Load the checkpoint to serve (the registry's production version, else the one
        at `model_path`; raises CheckpointError) and the catalog (`load_state`)."""
        path = serving_path(model_path, factory)
        serving = cls(
            load_state(path, factory, snapshots, max_delta=max_delta),
            factory,
            model_path=model_path,
            refresh_seconds=refresh_seconds,
            max_delta=max_delta,
            result_cache_size=result_cache_size,
            popularity_refresh_seconds=popularity_refresh_seconds,
            trending_half_life=trending_half_life,
            snapshots=snapshots,
        )
        serving.served_path, serving._stamp = path, checkpoint_stamp(path)
        return serving

    @property
    def state(self) -> ServingState:
        return self._state

    def results(self, state: ServingState) -> ResultCache[Kept] | None:
        """The kept answers computed from `state`, or None while a swap is under way or
        the last poll of the store is overdue (answers may then be stale)."""
        results = self._results
        if not _same(state.source, results.owner):
            return None
        if time.monotonic() - self._polled_at > self.refresh_seconds + POLL_GRACE_SECONDS:
            return None
        return results

    def users(self, state: ServingState) -> ResultCache[StoredUser] | None:
        """The users read from the store for `state` (each with their history and seen
        jobs), kept like the answers (`results`) and forgotten with them: on a write of
        theirs, and when the model or the catalog changes. None when none may be used."""
        users = self._users
        if self.results(state) is None or not _same(state.source, users.owner):
            return None
        return users

    def _serve(self, state: ServingState) -> None:
        """Swap `state` in; kept answers and users go with the model or catalog they came
        from."""
        if not _same(state.source, self._results.owner):
            self._results = ResultCache(state.source, self.result_cache_size)
            self._users = ResultCache(state.source, self.result_cache_size)
        self._state = state

    # -- changes -----------------------------------------------------------------------

    def user_changed(self, user_id: str) -> None:
        """Forget the kept answers of a user whose profile or events this process just
        wrote (other processes' writes are found by the poller)."""
        self._results.evict([user_id])
        self._users.evict([user_id])

    def reload(self, model_path: str | Path | None = None) -> ServingState:
        """Load a checkpoint (by default the registry's production version, else the one
        at MODEL_PATH) and a fresh catalog beside the serving state, then swap them in at
        once. On any error (CheckpointError, the database) the old state keeps serving;
        requests in flight finish on theirs."""
        with self._lock:
            path = str(model_path or serving_path(self.model_path, self.factory))
            stamp = checkpoint_stamp(path)
            state = load_state(path, self.factory, self.snapshots, max_delta=self.max_delta)
            self._serve(state)
            self.served_path, self._stamp = path, stamp
        return state

    def refresh(self) -> None:
        """Poll the store now: apply the jobs changed since the last poll, forget the
        kept answers of users changed since then, and start loading a new checkpoint if
        one is to be served (`_watch_checkpoint`); take the running experiment and hold
        the models it names (`VariantModels`). What the poller runs; callers that just
        wrote jobs or started an experiment run it to see them at once."""
        with self._lock:
            state = self._state
            # A job invisible at the last poll was written (updated_at, the writer's
            # clock) at most REFRESH_OVERLAP before it, as commits land late: read back
            # from there, not from the newest job, or a bulk import is re-read each time.
            synced_at = datetime.now(UTC)
            since = state.synced_at - REFRESH_OVERLAP
            with session_scope(self.factory) as session:
                registry = RegistryRepository(session)
                production = registry.production()
                experiment = self.variants.experiment = ExperimentRepository(session).running()
                registered = (
                    {r.version: r.path for r in registry.all() if r.status != "retired"}
                    if experiment is not None
                    else {}
                )
                if self.result_cache_size:
                    # a change stays in the window for REFRESH_OVERLAP: evict for it once
                    changes = UserRepository(session).changes(since)
                    changed_users = {user for user, *_ in changes - self._user_changes}
                    self._results.evict(changed_users)
                    self._users.evict(changed_users)
                    self._user_changes = changes
                reader = CatalogReader(session)
                changed = [
                    job_id
                    for job_id, at in reader.versions(since)
                    if not state.catalog.is_current(job_id, at)
                ]
                jobs = reader.jobs(changed) if changed else []
                signals = self._read_signals(session) if self.variants.needs_signals() else None
            self._watch_checkpoint(production.path if production else self.model_path)
            catalog = state.catalog
            if jobs and self.snapshots is not None and catalog.outgrows(jobs, self.max_delta):
                # a new base: the newest snapshot (another worker's, perhaps) or one built
                # now, rather than one this process alone would hold
                catalog, synced_at = self.snapshots.catalog(
                    state.checkpoint, self.factory, max_delta=self.max_delta
                )
            elif jobs:
                catalog = catalog.apply(
                    jobs, state.checkpoint.model, state.checkpoint.space, max_delta=self.max_delta
                )
            self.variants.sync(experiment, registered, state.checkpoint, catalog)
            if signals is not None:
                self.variants.set_signals(*signals)
            self._serve(replace(state, catalog=catalog, synced_at=synced_at))
            self._polled_at = time.monotonic()

    def _read_signals(self, session: Session) -> tuple[dict[str, float], dict[str, float]]:
        """(popularity, trending) as the store has them now."""
        reader = PopularityReader(session)
        return reader.counts(), reader.trending(datetime.now(UTC), self.trending_half_life)

    def signals(self) -> Signals:
        """The baselines' signals, read now if no poll has read them yet; the poller
        keeps them fresh while requests ask for them."""
        if self.variants.ask():
            with session_scope(self.factory) as session:
                self.variants.set_signals(*self._read_signals(session))
        return self.variants.signals

    def _watch_checkpoint(self, path: str) -> None:
        """When the checkpoint to serve at `path` is not the one served (a promoted
        version, a new checkpoint at MODEL_PATH from a retrain or another worker's
        reload), load it on a thread of its own; the current state serves meanwhile. One
        that fails to load is logged and not retried until it changes."""
        if self._reloading.is_set():
            return
        stamp = checkpoint_stamp(path)
        if stamp is None or (path == self.served_path and stamp == self._stamp):
            return
        self._reloading.set()

        def reload() -> None:
            try:
                state = self.reload(path)
                log.info("checkpoint changed: now serving %s", state.model_version)
            except (CheckpointError, SQLAlchemyError) as exc:
                self.served_path, self._stamp = path, stamp
                log.warning("checkpoint changed on disk but did not load: %s", exc)
            finally:
                self._reloading.clear()

        threading.Thread(target=reload, name="checkpoint-reload", daemon=True).start()

    # -- the poller --------------------------------------------------------------------

    def start_polling(self) -> None:
        """Poll the store every `refresh_seconds` on a background thread until `close`."""
        if self._poller is None:
            self._poller = threading.Thread(target=self._poll, name="store-poller", daemon=True)
            self._poller.start()

    def _poll(self) -> None:
        down = False
        while not self._stop.wait(max(self.refresh_seconds, MIN_POLL_SECONDS)):
            try:
                self.refresh()
            except SQLAlchemyError as exc:  # an outage: said once, retried every period
                if not down:
                    log.warning("polling the store failed: %s", type(exc).__name__)
                down = True
            else:
                if down:
                    log.info("polling the store works again")
                down = False

    def close(self) -> None:
        """Stop the poller (it finishes the poll under way)."""
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=30)
            self._poller = None
