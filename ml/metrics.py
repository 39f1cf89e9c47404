"""Ranking metrics over a full ranking of the catalog.

Every user's candidates are the whole catalog minus the jobs the user already
interacted with. Ties in score are broken by one fixed random order of the catalog
(seeded), so constant scores give chance-level metrics instead of flattering ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

METRIC_NAMES = (
    "hr",
    "precision",
    "recall",
    "f1",
    "ndcg",
    "map",
    "mrr",
    "auc",
    "coverage",
    "diversity",
)


@dataclass(frozen=True)
class RankingTask:
    """Who is ranked and what counts.

    users: row of each evaluated user (passed to the score function)
    relevant: per user, catalog rows of the held-out jobs
    excluded: per user, catalog rows never ranked (jobs already seen)
    groups: [N] company id of each catalog job (for diversity); -1 when unknown
    """

    users: Sequence[int]
    relevant: Sequence[Sequence[int]]
    excluded: Sequence[Sequence[int]]
    groups: np.ndarray

    @property
    def n_items(self) -> int:
        return len(self.groups)

    def subset(self, indices: Sequence[int]) -> RankingTask:
        """The task for the users at `indices` of `users` only."""
        return RankingTask(
            users=[self.users[i] for i in indices],
            relevant=[self.relevant[i] for i in indices],
            excluded=[self.excluded[i] for i in indices],
            groups=self.groups,
        )


ScoreFn = Callable[[Tensor], Tensor]  # user rows [U] -> scores [U, N]


def metric_keys(k: int) -> list[str]:
    return [f"{m}@{k}" if m not in ("mrr", "auc") else m for m in METRIC_NAMES]


def evaluate_ranking(
    score: ScoreFn, task: RankingTask, *, k: int = 10, chunk_users: int = 64, seed: int = 0
) -> dict[str, float]:
    """Mean metrics over users (keys `hr@k`, ..., `mrr`, `auc`) plus `users`."""
    return rank_users(score, task, k=k, chunk_users=chunk_users, seed=seed)[0]


def rank_users(
    score: ScoreFn, task: RankingTask, *, k: int = 10, chunk_users: int = 64, seed: int = 0
) -> tuple[dict[str, float], dict[int, dict[str, float]]]:
    """(`evaluate_ranking`'s means, each evaluated user's own metrics by their index in
    `task.users`; catalog coverage is the whole ranking's only)."""
    n = task.n_items
    tie_order = torch.from_numpy(np.random.default_rng(seed).permutation(n))
    sums = dict.fromkeys(metric_keys(k), 0.0)
    per_user: dict[int, dict[str, float]] = {}
    recommended = torch.zeros(n, dtype=torch.bool)
    evaluated = 0
    for start in range(0, len(task.users), chunk_users):
        stop = min(start + chunk_users, len(task.users))
        rows = torch.as_tensor(task.users[start:stop], dtype=torch.long)
        scores = score(rows).to(torch.float64)[:, tie_order]  # [U, N] in tie order
        position_of = torch.empty(n, dtype=torch.long)
        position_of[tie_order] = torch.arange(n)
        for u in range(stop - start):
            excluded = position_of[torch.as_tensor(task.excluded[start + u], dtype=torch.long)]
            scores[u, excluded] = -math.inf
        ranking = torch.sort(scores, dim=1, descending=True, stable=True).indices
        rank_of = torch.empty_like(ranking)
        rank_of.scatter_(1, ranking, torch.arange(1, n + 1).expand_as(ranking))
        for u in range(stop - start):
            relevant = task.relevant[start + u]
            if not relevant:
                continue
            n_candidates = n - len(set(task.excluded[start + u]))
            ranks = sorted(rank_of[u, position_of[torch.as_tensor(relevant)]].tolist())
            top = tie_order[ranking[u, :k]]
            recommended[top] = True
            mine = user_metrics(ranks, n_candidates, task.groups[top.numpy()], k)
            for key, value in mine.items():
                sums[key] += value
            per_user[start + u] = mine
            evaluated += 1
    out = {key: (value / evaluated if evaluated else 0.0) for key, value in sums.items()}
    out[f"coverage@{k}"] = float(recommended.sum()) / max(n, 1)
    out["users"] = evaluated
    return out, per_user


def user_metrics(
    ranks: list[int], n_candidates: int, groups: np.ndarray, k: int
) -> dict[str, float]:
    """One user's metrics: `ranks` of the relevant jobs (1-based, ascending) among
    `n_candidates`, `groups` [k] the top k's companies (-1: none). No coverage."""
    n_rel = len(ranks)
    hits = [r for r in ranks if r <= k]
    precision = len(hits) / k
    recall = len(hits) / n_rel
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(n_rel, k)))
    negatives = n_candidates - n_rel
    # relevant item at rank r has (r - 1 - relevant above it) negatives above it
    above = sum(r - 1 - i for i, r in enumerate(ranks))
    distinct = len({g for g in groups.tolist() if g >= 0}) + int((groups < 0).sum())
    return {
        f"hr@{k}": 1.0 if hits else 0.0,
        f"precision@{k}": precision,
        f"recall@{k}": recall,
        f"f1@{k}": 2 * precision * recall / (precision + recall) if hits else 0.0,
        f"ndcg@{k}": sum(1.0 / math.log2(r + 1) for r in hits) / ideal,
        f"map@{k}": sum((i + 1) / r for i, r in enumerate(hits)) / min(n_rel, k),
        "mrr": 1.0 / ranks[0],
        "auc": 1.0 - above / (n_rel * negatives) if negatives > 0 else 1.0,
        f"diversity@{k}": distinct / max(len(groups), 1),
    }


def bootstrap_interval(
    values: np.ndarray, boot: int, rng: np.random.Generator
) -> tuple[float, float]:
    """A bootstrap 95% interval of the mean of `values` [n] (resampling its entries,
    e.g. users): the 2.5th and 97.5th percentiles of `boot` resampled means."""
    means = values[rng.integers(0, len(values), (boot, len(values)))].mean(1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def paired_difference(
    a: dict[str, dict[str, float]],
    b: dict[str, dict[str, float]],
    key: str,
    *,
    boot: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Mean of a[u][key] - b[u][key] over the users both ranked, with a bootstrap 95%
    interval that resamples users (the two models' metrics stay paired per user)."""
    users = sorted(set(a) & set(b))
    diff = np.array([a[u][key] - b[u][key] for u in users], dtype=np.float64)
    if not len(diff):
        return {"mean": math.nan, "ci_low": math.nan, "ci_high": math.nan, "users": 0}
    low, high = bootstrap_interval(diff, boot, np.random.default_rng(seed))
    return {"mean": float(diff.mean()), "ci_low": low, "ci_high": high, "users": len(users)}
