"""Recommending: resolve the user (store + inline profile), build the filter, rank the
serving catalog, and keep the answer for a repeated query.

A repeated query is answered from the kept answers while the model, the catalog and the
user are unchanged (`app.serving.results`); otherwise the user is read in a short
read-only transaction and the ranking runs on one long-lived scoring thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import torch
from sqlalchemy.orm import Session, sessionmaker

from app.db import session_scope
from app.errors import NotFoundError
from app.repositories import CatalogJob, EventRepository, JobRepository, UserRepository
from app.repositories.slates import SlateRow
from app.services.attribution import RecommendationIds
from app.services.slates import SlateLog
from app.serving.baselines import BASELINES, rank_baseline
from app.serving.explanations import JobExplanation, explain_ranked
from app.serving.filters import FilterSpec, JobFilter, build_filter
from app.serving.ranking import TwoStage, rank
from app.serving.results import Kept, StoredUser
from app.serving.state import Serving, ServingState
from app.serving.variants import assign
from ml.data import aggregate_feedback, attach_history
from ml.records import UserRecord

log = logging.getLogger("jobrec.recommend")
T = TypeVar("T")


@dataclass(frozen=True)
class Profile:
    """An inline profile: the `UserRecord` fields the client gave, as (name, value) pairs
    (skills, headline, place, company, desired_salary_usd). Given fields replace the
    stored ones; a user the store does not know is scored from these alone."""

    fields: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class RecommendQuery:
    """Who to recommend for, how many, and the filters. Hashable: the key of a kept
    answer (two equal queries get the same answer while nothing they depend on
    changes)."""

    user_id: str
    k: int
    filters: FilterSpec = field(default_factory=FilterSpec)
    profile: Profile | None = None
    fallback: str | None = None  # "trending": for a user the store does not know
    explain: bool = False  # each job's explanation (ConvFM models)


@dataclass(frozen=True)
class Ranked:
    """The top jobs of one query, best first, as served (and logged) under
    `recommendation_id`."""

    user_id: str
    cold_start: bool  # scored from the inline profile alone
    jobs: list[tuple[CatalogJob, float]]
    state: ServingState
    scored: int  # candidates the model scored (after filters and any first stage)
    recommendation_id: str
    model_version: str  # the model that ranked it
    variant: str | None = None  # the experiment's variant the user is in
    explanations: list[JobExplanation] | None = None  # per job, with `explain`
    fallback: str | None = None  # "trending": the user was unknown, the fallback answered
    kept: bool = False  # the kept answer to the same query: nothing was scored


@dataclass(frozen=True)
class Route:
    """Which experiment and variant a request falls in, and the model that ranks it."""

    experiment: str | None
    variant: str | None
    model: str
    fallback: str | None = None


class RecommendService:
    """Thread-safe: any number of request threads may call it."""

    def __init__(
        self,
        serving: Serving,
        factory: sessionmaker[Session],
        two_stage: TwoStage,
        *,
        ids: RecommendationIds,
        slates: SlateLog,
    ) -> None:
        self.serving = serving
        self.factory = factory
        self.two_stage = two_stage
        self.ids = ids
        self.slates = slates
        # Scoring runs on ONE long-lived thread per process: torch already spreads one
        # request's work over TORCH_THREADS, concurrent scoring would only oversubscribe
        # the cores and multiply the peak memory of the intermediates, and every thread
        # that runs torch keeps its own spinning intra-op pool.
        self._scoring = ThreadPoolExecutor(
            1,
            thread_name_prefix="scoring",
            initializer=torch.set_num_threads,
            initargs=(torch.get_num_threads(),),
        )

    def on_scoring_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` run on the one scoring thread (torch work never runs beside it)."""
        return self._scoring.submit(fn, *args).result()

    def warm_up(self) -> None:
        """Rank once for a user with nothing known, on the scoring thread: its first
        torch work (intra-op pool, kernels) is paid here, not by the first request."""
        state = self.serving.state
        self._scoring.submit(
            rank,
            state.checkpoint,
            state.catalog,
            UserRecord(user_id=""),
            JobFilter(),
            1,
            self.two_stage,
        ).result()

    def _route(self, query: RecommendQuery, state: ServingState) -> Route:
        """The running experiment's variant for this user and the model it names (the
        served model when no experiment runs)."""
        experiment = self.serving.variants.experiment
        if experiment is None:
            return Route(None, None, state.model_version)
        variant = assign(experiment, query.user_id)
        return Route(experiment.name, variant.name, variant.model)

    def kept(self, query: RecommendQuery) -> Ranked | None:
        """The kept answer to `query`, or None (then call `recommend`). It never waits for
        the database or the model: safe to call on the event loop."""
        state = self.serving.state
        route = self._route(query, state)
        if route.model != state.model_version:  # only the served model's are kept
            return None
        results = self.serving.results(state)
        kept = results.get(query) if results is not None else None
        if kept is None:
            return None
        return self._served(query, state, route, kept, scored=0, kept=True)

    def recommend(self, query: RecommendQuery, *, fresh: bool = False) -> Ranked:
        """Top `query.k` jobs passing every filter, ranked by the model of the user's
        experiment variant (the served model when none runs): the kept answer to the same
        query while the model, the catalog and the user are unchanged (unless `fresh`),
        else scored now (and kept). Raises NotFoundError for an unknown user without a
        profile, UnknownPlaceError for a place filter that matches no known place."""
        if not fresh and (ranked := self.kept(query)):
            return ranked
        state = self.serving.state
        route = self._route(query, state)
        results = self.serving.results(state)  # None: a swap is under way, keep nothing
        ticket = results.ticket() if results is not None else 0  # before the user is read
        try:
            user, seen, cold_start = self.resolve_user(state, query)
        except NotFoundError:
            if query.fallback != "trending":
                raise
            return self._trending(query, state)
        job_filter = build_filter(query.filters, seen=seen, known_city=state.catalog.has_city)
        jobs, scored, model, explanations = self._scoring.submit(
            self._rank, route.model, state, user, job_filter, query.k, query.explain
        ).result()
        answer = Kept(cold_start, jobs, explanations)
        if model != route.model:  # the variant's model could not be loaded
            route = replace(route, model=model)
        if results is not None and model == state.model_version:
            results.put(query, query.user_id, ticket, answer)
        return self._served(query, state, route, answer, scored=scored, kept=False)

    def _trending(self, query: RecommendQuery, state: ServingState) -> Ranked:
        """The trending jobs passing the filters, for a user the store does not know."""
        job_filter = build_filter(query.filters, known_city=state.catalog.has_city)
        user = UserRecord(user_id=query.user_id)
        jobs, scored, model, _ = self._scoring.submit(
            self._rank, "trending", state, user, job_filter, query.k, False
        ).result()
        route = Route(None, None, model, fallback="trending")
        return self._served(query, state, route, Kept(True, jobs), scored=scored, kept=False)

    def _rank(
        self,
        model: str,
        state: ServingState,
        user: UserRecord,
        job_filter: JobFilter,
        k: int,
        explain: bool,
    ) -> tuple[list[tuple[CatalogJob, float]], int, str, list[JobExplanation] | None]:
        """Rank with `model` (a baseline, a held variant model, else the served model):
        (jobs, candidates scored, the model that ranked them, with `explain` a ConvFM
        model's explanation of each job). On the scoring thread."""
        if model in BASELINES:
            space, signals = state.checkpoint.space, self.serving.signals()
            jobs, scored = rank_baseline(model, state.catalog, space, signals, user, job_filter, k)
            return jobs, scored, model, None
        held = self.serving.variants.model(model) if model != state.model_version else None
        checkpoint, catalog = held if held is not None else (state.checkpoint, state.catalog)
        users = checkpoint.space.encode_users([user])  # once, for ranking and explaining
        jobs, scored = rank(checkpoint, catalog, user, job_filter, k, self.two_stage, users)
        records = [job.record for job, _ in jobs]
        explanations = explain_ranked(checkpoint, user, records, users) if explain else None
        return jobs, scored, checkpoint.version, explanations

    def _served(
        self,
        query: RecommendQuery,
        state: ServingState,
        route: Route,
        answer: Kept,
        *,
        scored: int,
        kept: bool,
    ) -> Ranked:
        """The answer under a new recommendation id, its slate on the log."""
        ranked = Ranked(
            user_id=query.user_id,
            cold_start=answer.cold_start,
            jobs=answer.jobs,
            state=state,
            scored=scored,
            recommendation_id=self.ids.issue(query.user_id),
            model_version=route.model,
            variant=route.variant,
            explanations=answer.explanations,
            fallback=route.fallback,
            kept=kept,
        )
        self.slates.log(
            SlateRow(
                id=ranked.recommendation_id,
                user_id=query.user_id,
                model_version=route.model,
                items=tuple((job.record.job_id, round(score, 6)) for job, score in answer.jobs),
                filters={
                    "k": query.k,
                    **asdict(query.filters),
                    **({"fallback": query.fallback} if query.fallback else {}),
                },
                served_at=datetime.now(UTC),
                experiment=route.experiment,
                variant=route.variant,
            )
        )
        return ranked

    def resolve_user(
        self, state: ServingState, query: RecommendQuery
    ) -> tuple[UserRecord, set[str], bool]:
        """The user's record (skills, place, company, and the jobs they liked as history,
        by the training rules) with the inline profile on top; the ids of every job they
        interacted with; and whether they are scored from the profile alone. The stored
        part is built once per version of the user (`UserRepository.version`: one
        indexed read a request) and kept while the model and the catalog are the same
        (`Serving.users`)."""
        users = self.serving.users(state)
        kept = users.get(query.user_id) if users is not None else None
        ticket = users.ticket() if users is not None else 0  # before the user is read
        with session_scope(self.factory) as session:
            version = UserRepository(session).version(query.user_id)
            stored = kept if kept is not None and kept.version == version else None
            if stored is None and version is not None:
                stored = self.stored_user(session, state, query.user_id, version)
                if stored is not None and users is not None:
                    users.put(query.user_id, query.user_id, ticket, stored)
        if stored is None and query.profile is None:
            raise NotFoundError(
                f"user {query.user_id!r} not found; send an inline "
                "'profile' to score a user who is not in the store"
            )
        record = stored.record if stored is not None else UserRecord(user_id=query.user_id)
        if query.profile is not None:
            record = replace(record, **dict(query.profile.fields))
        return record, set(stored.seen) if stored is not None else set(), stored is None

    def stored_user(
        self, session: Session, state: ServingState, user_id: str, version: tuple[object, ...]
    ) -> StoredUser | None:
        """The user as the store holds them (at `version`); None if they were deleted
        since."""
        stored = UserRepository(session).records([user_id])
        if not stored:
            return None
        events = EventRepository(session).interactions(user_id)
        feedback = aggregate_feedback(events)
        liked_ids = [f.job_id for f in feedback if f.label > 0]
        # history jobs still in the catalog come from memory, the others from the store
        in_memory = [job.record for job in map(state.catalog.find, liked_ids) if job]
        known = {record.job_id for record in in_memory}
        missing = [j for j in liked_ids if j not in known]
        liked = in_memory + (
            JobRepository(session).records(external_ids=missing) if missing else []
        )
        depth = state.checkpoint.space.config.max_history
        (record,) = attach_history(stored, feedback, liked, depth)
        return StoredUser(version, record, frozenset(e.job_id for e in events))
