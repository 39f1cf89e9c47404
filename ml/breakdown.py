"""Where the misses are: ranking metrics split by segment of the evaluated users, with
bootstrap 95% intervals over users, for every model compared.

Segments of a user with a held-out job:
- `history`: how many jobs they liked in training (0, 1, 2-4, 5+);
- `target_seen_by_others`: whether another user liked the held-out job in training;
- `target_in_history_city`: whether the held-out job is in a city of a job they liked
  (`no history` without one);
- `profile`: whether they state a profile (`UserRecord.has_profile`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ml.metrics import bootstrap_interval

if TYPE_CHECKING:
    from ml.experiment import Prepared

BOOTSTRAP = 1000
METRICS = ("hr", "ndcg")  # reported @k


def _history_bin(n: int) -> str:
    return "0" if n == 0 else "1" if n == 1 else "2-4" if n <= 4 else "5+"


def segments(data: Prepared, targets: Mapping[str, Sequence[str]]) -> dict[str, dict[str, str]]:
    """user id -> {segment: label} for every user with targets."""
    liked: dict[str, set[str]] = defaultdict(set)  # user -> jobs liked in training
    likers: dict[str, set[str]] = defaultdict(set)  # job -> users who liked it
    for f in data.split.train:
        if f.label > 0:
            liked[f.user_id].add(f.job_id)
            likers[f.job_id].add(f.user_id)
    job = {j.job_id: j for j in data.jobs}
    user = {u.user_id: u for u in data.users}

    def city(job_id: str) -> str | None:
        place = job[job_id].place if job_id in job else None
        return place.key if place is not None and place.city else None

    out = {}
    for user_id, wanted in targets.items():
        mine = liked.get(user_id, set())
        cities = {c for c in map(city, mine) if c}
        record = user.get(user_id)
        out[user_id] = {
            "history": _history_bin(len(mine)),
            "target_seen_by_others": (
                "yes" if any(likers.get(t, set()) - {user_id} for t in wanted) else "no"
            ),
            "target_in_history_city": (
                "no history"
                if not mine
                else "yes"
                if any(city(t) in cities for t in wanted)
                else "no"
            ),
            "profile": ("yes" if record is not None and record.has_profile else "no"),
        }
    return out


def breakdown(
    per_user: Mapping[str, Mapping[str, Mapping[str, float]]],
    labels: Mapping[str, Mapping[str, str]],
    k: int,
    *,
    boot: int = BOOTSTRAP,
    seed: int = 0,
) -> dict[str, Any]:
    """segment -> label -> model -> {users, hr@k, ndcg@k as {value, ci_low, ci_high}};
    `per_user`: model -> user id -> that user's metrics."""
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    names = sorted({s for user in labels.values() for s in user})
    for segment in names:
        groups: dict[str, list[str]] = defaultdict(list)
        for user_id, user_labels in labels.items():
            groups[user_labels[segment]].append(user_id)
        out[segment] = {}
        for label, members in sorted(groups.items()):
            out[segment][label] = {}
            for model, metrics in per_user.items():
                present = [u for u in members if u in metrics]
                entry: dict[str, Any] = {"users": len(present)}
                for m in METRICS:
                    values = np.array([metrics[u][f"{m}@{k}"] for u in present], dtype=float)
                    entry[f"{m}@{k}"] = _mean_interval(values, boot, rng)
                out[segment][label][model] = entry
    return out


def _mean_interval(values: np.ndarray, boot: int, rng: np.random.Generator) -> dict[str, Any]:
    if not len(values):
        return {"value": None, "ci_low": None, "ci_high": None}
    low, high = bootstrap_interval(values, boot, rng)
    return {"value": float(values.mean()), "ci_low": low, "ci_high": high}
