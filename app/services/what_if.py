"""What if the user changed their profile: the ranking before and after a change of
skills, place or desired salary, and the skills that would raise their top jobs most.

`before` is what /recommend answers for the same request (the served model); `after` is
what it would answer once the change is stored (`PUT /users/{id}`). Suggested skills
come from the skills the jobs passing the filters ask for, most asked first; each is
tried on the user in one batch of encoded profiles, every candidate job scored exactly.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import numpy as np
import torch

from app.repositories import CatalogJob
from app.services.recommend import RecommendQuery, RecommendService
from app.serving.catalog import CatalogPart
from app.serving.filters import JobFilter, build_filter, check_city
from app.serving.ranking import TwoStage, rank
from app.serving.state import ServingState
from ml.locations import Place, location_query
from ml.records import UserRecord
from ml.skills import canonical_skill

CANDIDATE_SKILLS = 20  # the most asked-for skills tried as suggestions
MAX_SUGGESTIONS = 5


@dataclass(frozen=True)
class ProfileChange:
    add_skills: tuple[str, ...] = ()
    remove_skills: tuple[str, ...] = ()
    place: Place | None = None
    move: bool = False  # whether `place` replaces the user's place
    place_text: str = ""  # as the client wrote it (for an error)
    desired_salary_usd: float | None = None
    new_salary: bool = False  # whether `desired_salary_usd` replaces the user's

    def apply(self, user: UserRecord) -> UserRecord:
        """The user as the store would hold them with the change (skills canonical,
        sorted by name)."""
        gone = {canonical_skill(s) for s in self.remove_skills}
        skills = {canonical_skill(s) for s in user.skills} | {
            canonical_skill(s) for s in self.add_skills
        }
        return replace(
            user,
            skills=tuple(sorted(skills - gone)),
            place=self.place if self.move else user.place,
            desired_salary_usd=(
                self.desired_salary_usd if self.new_salary else user.desired_salary_usd
            ),
        )


@dataclass(frozen=True)
class Changed:
    job: CatalogJob
    score: float
    rank_change: int | None  # positions up (> 0) since before; None: new in the list
    score_delta: float  # the score now minus the score before the change


@dataclass(frozen=True)
class Suggestion:
    skill: str
    gain: float  # rise of the mean score of the user's top k
    jobs_gained: int  # jobs that enter the top k


@dataclass(frozen=True)
class WhatIf:
    state: ServingState
    before: list[tuple[CatalogJob, float]]
    after: list[Changed]
    suggestions: list[Suggestion]


class WhatIfService:
    def __init__(self, recommend: RecommendService) -> None:
        self.recommend = recommend

    def what_if(self, query: RecommendQuery, change: ProfileChange) -> WhatIf:
        """NotFoundError for an unknown user without a profile; UnknownPlaceError for a
        place filter that matches no known place."""
        service = self.recommend
        state = service.serving.state
        place = change.place
        if change.move and place is not None:
            query_place = location_query(place.city, place.region, place.country)
            check_city(query_place, "changes.location", change.place_text, state.catalog.has_city)
        user, seen, _ = service.resolve_user(state, query)
        job_filter = build_filter(query.filters, seen=seen, known_city=state.catalog.has_city)
        changed = change.apply(user)
        return service.on_scoring_thread(
            _what_if, state, user, changed, job_filter, query.k, service.two_stage
        )


@torch.inference_mode()
def _what_if(
    state: ServingState,
    user: UserRecord,
    changed: UserRecord,
    job_filter: JobFilter,
    k: int,
    two_stage: TwoStage,
) -> WhatIf:
    checkpoint, catalog = state.checkpoint, state.catalog
    before, _ = rank(checkpoint, catalog, user, job_filter, k, two_stage)
    after, _ = rank(checkpoint, catalog, changed, job_filter, k, two_stage)
    was = {job.job_id: (i, score) for i, (job, score) in enumerate(before)}
    old_scores = _scores(state, user, [job for job, _ in after])
    moved = [
        Changed(
            job,
            score,
            was[job.job_id][0] - i if job.job_id in was else None,
            score - old,
        )
        for i, ((job, score), old) in enumerate(zip(after, old_scores, strict=True))
    ]
    return WhatIf(state, before, moved, _suggestions(state, changed, job_filter, k))


def _scores(state: ServingState, user: UserRecord, jobs: list[CatalogJob]) -> list[float]:
    """The served model's scores of `jobs` for `user` (the plain forward)."""
    if not jobs:
        return []
    space, model = state.checkpoint.space, state.checkpoint.model
    return model.predict(space.user_against(user, [job.record for job in jobs])).tolist()


def _suggestions(
    state: ServingState, user: UserRecord, job_filter: JobFilter, k: int
) -> list[Suggestion]:
    """The skills, among those the candidate jobs ask for most, whose addition raises
    the mean score of the user's top k most."""
    space = state.checkpoint.space
    parts: list[tuple[CatalogPart, list[int]]] = []
    asked: Counter[str] = Counter()
    for part, visible in state.catalog.parts():
        mask = job_filter.mask(part)
        if visible is not None:
            mask &= visible
        rows = np.flatnonzero(mask).tolist()
        if rows:
            parts.append((part, rows))
            for row in rows:
                asked.update(space.job_skills(part.jobs[row].record))
    has = set(space.user_skills(user))
    skills = [s for s, _ in asked.most_common() if s not in has][:CANDIDATE_SKILLS]
    if not skills or not parts:
        return []
    profiles = [user, *(replace(user, skills=(*user.skills, s)) for s in skills)]
    users = space.encode_users(profiles)  # one batch: the user, then one profile per skill
    per_profile: list[list[tuple[float, str]]] = [[] for _ in profiles]
    for part, rows in parts:
        ids = [part.jobs[r].job_id for r in rows]
        rows_t = torch.tensor(rows, dtype=torch.long)
        for p in range(len(profiles)):
            scores = part.scorer.score(users, p, rows_t).tolist()
            per_profile[p] += zip(scores, ids, strict=True)
    tops = [sorted(found, reverse=True)[:k] for found in per_profile]
    base_mean = float(np.mean([s for s, _ in tops[0]]))
    base_ids = {j for _, j in tops[0]}
    found = [
        Suggestion(
            skill,
            float(np.mean([s for s, _ in top])) - base_mean,
            len({j for _, j in top} - base_ids),
        )
        for skill, top in zip(skills, tops[1:], strict=True)
    ]
    found = [s for s in found if s.gain > 0]
    found.sort(key=lambda s: -s.gain)
    return found[:MAX_SUGGESTIONS]
