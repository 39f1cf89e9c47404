"""Cold start, measured: users ranked from their profile alone against the first job
they engaged with (`jobrec evaluate --cold-start`).

Each user with a profile and a positive on an active job is sent as a NEW user: the
profile the store keeps (headline, place, company, skills, desired salary) and no
history, exactly what the service builds from an inline `"profile"` on `/recommend`;
the target is the job of their first positive (by time). Nothing is excluded: a new
user has seen nothing.

Beside ConvFM, on the same users:

* location-popularity: jobs in the profile's city, then its region, then the rest,
  each tier ordered by how many OTHER users liked the job (the user's own positives are
  taken out of the counts, or a job liked by this user alone would rank above the
  jobs nobody liked: the target leaking into its baseline);
* tfidf+location: the same tiers, ordered within each by the TF-IDF cosine of the
  profile's headline with the job's title, company and place words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ml.baselines import LocationPopularityRanker, PopularityRanker, TfidfRanker
from ml.checkpoint import Checkpoint
from ml.data import Feedback, aggregate_feedback
from ml.metrics import RankingTask, ScoreFn, bootstrap_interval, rank_users
from ml.records import Interaction, JobRecord, UserRecord
from ml.scoring import CatalogScorer

BOOTSTRAP = 1000


def first_positives(feedback: Sequence[Feedback]) -> dict[str, str]:
    """user id -> the job of the user's first positive (by time, then job id)."""
    first: dict[str, tuple[Any, str]] = {}
    for fb in feedback:
        if fb.label > 0 and (fb.user_id not in first or (fb.time, fb.job_id) < first[fb.user_id]):
            first[fb.user_id] = (fb.time, fb.job_id)
    return {user_id: job_id for user_id, (_, job_id) in first.items()}


def as_new_users(users: Sequence[UserRecord]) -> list[UserRecord]:
    """The users as the service sees a new user sent with their profile: no history."""
    return [replace(u, history=()) for u in users]


@dataclass
class ColdStartTask:
    """The new users (`users`, no history), their targets as a `RankingTask`, and the
    rankers of ConvFM and the baselines (user rows [U] -> scores [U, N])."""

    users: list[UserRecord]
    task: RankingTask
    rankers: dict[str, ScoreFn]
    catalog_ids: tuple[str, ...]


def cold_start_task(
    checkpoint: Checkpoint,
    users: Sequence[UserRecord],
    jobs: Sequence[JobRecord],
    interactions: Sequence[Interaction],
    targets: dict[str, str] | None = None,
) -> ColdStartTask:
    """Every user with a profile and a target on an active job, as a new user.

    `targets` (user id -> job id): the jobs to find, when they are not in
    `interactions` (users held out of the store); default each user's first positive.
    The baselines' popularity counts `interactions`.
    """
    feedback = aggregate_feedback(interactions)
    catalog_jobs = [j for j in jobs if j.active]
    catalog_index = {j.job_id: i for i, j in enumerate(catalog_jobs)}
    if targets is None:
        targets = first_positives(feedback)
    cold = as_new_users(
        [u for u in users if u.has_profile and targets.get(u.user_id) in catalog_index]
    )
    space = checkpoint.space
    user_features = space.encode_users(cold)
    catalog = space.encode_jobs(catalog_jobs)
    task = RankingTask(
        users=list(range(len(cold))),
        relevant=[[catalog_index[targets[u.user_id]]] for u in cold],
        excluded=[[] for _ in cold],
        groups=np.full(len(catalog_jobs), -1, dtype=np.int64),
    )
    own = _own_positives(feedback, [u.user_id for u in cold], catalog_index)
    popularity = PopularityRanker(feedback, catalog.ids)
    places = LocationPopularityRanker(
        user_features, [u.user_id for u in cold], catalog, catalog_index, catalog, [], popularity
    )
    tfidf = TfidfRanker(cold, catalog_jobs, np.arange(len(catalog_jobs)), [])
    scorer = CatalogScorer(checkpoint.model, space, catalog)
    one_positive = 1.0 / (float(popularity.scores.max()) + 1)  # LocationPopularity's scale
    rankers: dict[str, ScoreFn] = {
        "convfm": lambda rows: scorer.score_many(user_features, rows),
        "location-popularity": OthersOnly(places, own, one_positive),
        "tfidf+location": lambda rows: places.tiers(rows) + tfidf(rows).float(),
    }
    return ColdStartTask(cold, task, rankers, tuple(catalog.ids))


def cold_start_evaluation(
    checkpoint: Checkpoint,
    users: Sequence[UserRecord],
    jobs: Sequence[JobRecord],
    interactions: Sequence[Interaction],
    *,
    k: int = 10,
    boot: int = BOOTSTRAP,
    targets: dict[str, str] | None = None,
) -> dict[str, Any]:
    """HR@k and NDCG@k (with bootstrap 95% intervals over users) of ConvFM and the two
    baselines, every user ranked from their profile alone (`cold_start_task`)."""
    cold = cold_start_task(checkpoint, users, jobs, interactions, targets)
    rng = np.random.default_rng(0)
    report: dict[str, Any] = {
        "k": k,
        "users": len(cold.users),
        "catalog_size": len(cold.catalog_ids),
    }
    models: dict[str, dict[str, Any]] = {}
    hr: dict[str, float] = {}
    for name, score in cold.rankers.items():
        means, per_user = rank_users(score, cold.task, k=k)
        hr[name] = means[f"hr@{k}"]
        models[name] = {
            key: {
                "mean": means[key],
                "interval": bootstrap_interval(
                    np.array([m[key] for m in per_user.values()]), boot, rng
                ),
            }
            for key in (f"hr@{k}", f"ndcg@{k}")
        }
    report["models"] = models
    best = max(hr["location-popularity"], hr["tfidf+location"])
    report[f"convfm_hr@{k}_over_best_baseline"] = hr["convfm"] / best if best > 0 else None
    return report


def _own_positives(
    feedback: Sequence[Feedback], user_ids: Sequence[str], catalog_index: dict[str, int]
) -> list[list[int]]:
    """Per user, the catalog rows of their own positives."""
    mine: dict[str, list[int]] = {u: [] for u in user_ids}
    for fb in feedback:
        if fb.label > 0 and fb.user_id in mine and fb.job_id in catalog_index:
            mine[fb.user_id].append(catalog_index[fb.job_id])
    return [mine[u] for u in user_ids]


class OthersOnly:
    """A location-popularity ranker whose popularity counts other users' positives
    only: one positive's worth (`step`) is taken back from each of the user's own."""

    def __init__(self, score: ScoreFn, own: Sequence[Sequence[int]], step: float) -> None:
        self.score, self.own, self.step = score, own, step

    def __call__(self, user_rows: Tensor) -> Tensor:
        out = self.score(user_rows).clone()
        for i, row in enumerate(user_rows.tolist()):
            out[i, torch.tensor(self.own[row], dtype=torch.long)] -= self.step
        return out
