"""Implicit feedback -> training examples, leave-last-out splits, negative sampling.

Feedback rules (one label per (user, job) pair):

* view < click < save < apply: the pair is a positive weighted by its strongest event
  (`POSITIVE_WEIGHTS`), dated by its first positive event.
* dismiss: a negative (weight 1) unless the user also clicked, saved or applied.
* impression only (shown, never opened): a weak negative (weight 0.25).

Split (`leave_last_out`): per user, positives ordered by first time; the last is the
test item and, for users with three or more, the one before it is the validation item.
Early stopping reads validation; reports read test; the model never trains on either.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np

from ml.records import Interaction, JobRecord, UserRecord

POSITIVE_WEIGHTS = {"view": 1.0, "click": 2.0, "save": 3.0, "apply": 4.0}
DISMISS_WEIGHT = 1.0
IMPRESSION_WEIGHT = 0.25
MAX_REDRAWS = 20


@dataclass(frozen=True, slots=True)
class Feedback:
    """The aggregated label of one (user, job) pair."""

    user_id: str
    job_id: str
    label: float  # 1.0 positive, 0.0 negative
    weight: float
    time: datetime


def aggregate_feedback(interactions: Iterable[Interaction]) -> list[Feedback]:
    """One `Feedback` per (user, job) pair, by the rules of this module's docstring."""
    events: dict[tuple[str, str], list[Interaction]] = defaultdict(list)
    for event in interactions:
        events[(event.user_id, event.job_id)].append(event)
    out = []
    for (user_id, job_id), pair_events in events.items():
        positives = [e for e in pair_events if e.type in POSITIVE_WEIGHTS]
        strongest = max((POSITIVE_WEIGHTS[e.type] for e in positives), default=0.0)
        dismissed = [e for e in pair_events if e.type == "dismiss"]
        if positives and not (dismissed and strongest <= POSITIVE_WEIGHTS["view"]):
            first = min(e.timestamp for e in positives)
            out.append(Feedback(user_id, job_id, 1.0, strongest, first))
        elif dismissed:
            out.append(
                Feedback(user_id, job_id, 0.0, DISMISS_WEIGHT, min(e.timestamp for e in dismissed))
            )
        else:
            out.append(
                Feedback(
                    user_id, job_id, 0.0, IMPRESSION_WEIGHT, min(e.timestamp for e in pair_events)
                )
            )
    out.sort(key=lambda f: (f.user_id, f.time, f.job_id))
    return out


@dataclass
class Split:
    """Leave-last-out split of aggregated feedback.

    train: feedback the model learns from; validation/test: user -> held-out job;
    seen: user -> every job of the user's training feedback (excluded when ranking).
    """

    train: list[Feedback]
    validation: dict[str, str] = field(default_factory=dict)
    validation_feedback: list[Feedback] = field(default_factory=list)
    test: dict[str, str] = field(default_factory=dict)
    seen: dict[str, set[str]] = field(default_factory=dict)

    def seen_before_test(self, user_id: str) -> set[str]:
        """What the user had seen when the test item came: training + validation."""
        seen = set(self.seen.get(user_id, ()))
        if user_id in self.validation:
            seen.add(self.validation[user_id])
        return seen


def leave_last_out(feedback: Sequence[Feedback], *, holdout: bool = True) -> Split:
    """Hold out each user's last positive (test) and the one before (validation).

    Users need 2 positives for a test item and 3 for a validation item; with
    `holdout=False` everything is training data.
    """
    by_user: dict[str, list[Feedback]] = defaultdict(list)
    for fb in feedback:
        by_user[fb.user_id].append(fb)
    split = Split(train=[])
    for user_id, items in by_user.items():
        positives = sorted((f for f in items if f.label > 0), key=lambda f: (f.time, f.job_id))
        held: set[str] = set()
        if holdout and len(positives) >= 2:
            split.test[user_id] = positives[-1].job_id
            held.add(positives[-1].job_id)
            if len(positives) >= 3:
                split.validation[user_id] = positives[-2].job_id
                split.validation_feedback.append(positives[-2])
                held.add(positives[-2].job_id)
        train = [f for f in items if f.job_id not in held]
        split.train.extend(train)
        split.seen[user_id] = {f.job_id for f in train}
    return split


@dataclass(frozen=True)
class Examples:
    """Rows of a training epoch: user row, job row, label, weight (arrays of length n)."""

    users: np.ndarray
    jobs: np.ndarray
    labels: np.ndarray
    weights: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


class ExampleSampler:
    """Training rows for each epoch: the training feedback plus fresh sampled negatives.

    `row_users` (one per feedback row, optional): the user row to emit for that row and
    its negatives, e.g. the user as of that feedback (`histories_as_of`); the user's
    positives are still avoided by user.

    For every positive, `negative_ratio` jobs are drawn from the catalog (`catalog_rows`),
    avoiding the user's known positives: a `local_share` of them among the catalog jobs
    of the positive's group (`job_groups`, e.g. its region; groups <= 1 are unknown),
    the rest uniformly. Each epoch draws anew from a generator seeded by (seed, epoch),
    so training is reproducible.
    """

    def __init__(
        self,
        train: Sequence[Feedback],
        user_index: dict[str, int],
        job_index: dict[str, int],
        catalog_rows: np.ndarray,
        negative_ratio: int,
        seed: int,
        *,
        job_groups: np.ndarray | None = None,
        local_share: float = 0.0,
        row_users: Sequence[int] | None = None,
    ) -> None:
        emitted = row_users if row_users is not None else [-1] * len(train)
        rows = [
            (user_index[f.user_id], job_index[f.job_id], f.label, f.weight, out)
            for f, out in zip(train, emitted, strict=True)
            if f.user_id in user_index and f.job_id in job_index
        ]
        table = np.array(rows, dtype=np.float64).reshape(-1, 5)
        self.users = table[:, 0].astype(np.int64)
        self.jobs = table[:, 1].astype(np.int64)
        self.labels = table[:, 2].astype(np.float32)
        self.weights = table[:, 3].astype(np.float32)
        # the user row each example is emitted with (`row_users`: a snapshot of the
        # user per feedback row; default the user's row)
        self.out_users = table[:, 4].astype(np.int64) if row_users is not None else self.users
        self.catalog_rows = np.asarray(catalog_rows, dtype=np.int64)
        self.negative_ratio = negative_ratio
        self.seed = seed
        positive = self.labels > 0
        self._positive_keys = np.unique(self.users[positive] * (1 << 32) + self.jobs[positive])
        self.local_share = local_share if job_groups is not None else 0.0
        if self.local_share > 0:
            # catalog rows sorted by group; a group's rows are order[start[g]:start[g]+size[g]]
            self.job_groups = np.asarray(job_groups, dtype=np.int64)
            groups = self.job_groups[self.catalog_rows]
            self._order = self.catalog_rows[np.argsort(groups, kind="stable")]
            n_groups = int(self.job_groups.max()) + 1
            self._size = np.bincount(groups, minlength=n_groups)
            self._start = np.concatenate([[0], np.cumsum(self._size)[:-1]])

    def epoch(self, epoch: int) -> Examples:
        """Pointwise rows: the training feedback and each positive's negatives, shuffled."""
        rng = np.random.default_rng([self.seed, epoch])
        positive, neg_jobs = self._negatives(rng)
        neg_users = np.repeat(self.out_users[positive], self.negative_ratio)
        users = np.concatenate([self.out_users, neg_users])
        jobs = np.concatenate([self.jobs, neg_jobs.reshape(-1)])
        labels = np.concatenate([self.labels, np.zeros(len(neg_users), np.float32)])
        weights = np.concatenate([self.weights, np.ones(len(neg_users), np.float32)])
        order = rng.permutation(len(users))
        return Examples(users[order], jobs[order], labels[order], weights[order])

    def groups(self, epoch: int) -> Groups:
        """Ranking rows: each positive with its `negative_ratio` sampled negatives (the
        same draws as `epoch`), shuffled; explicit negatives are not used."""
        rng = np.random.default_rng([self.seed, epoch])
        positive, neg_jobs = self._negatives(rng)
        order = rng.permutation(len(positive))
        rows = positive[order]
        jobs = np.concatenate([self.jobs[rows, None], neg_jobs[order]], axis=1)
        return Groups(self.out_users[rows], jobs, self.weights[rows])

    def _negatives(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(rows of the positives [P], their sampled negative jobs [P, negative_ratio])."""
        positive = np.flatnonzero(self.labels > 0)
        neg_users = np.repeat(self.users[positive], self.negative_ratio)
        neg_jobs = self.catalog_rows[rng.integers(0, len(self.catalog_rows), len(neg_users))]
        if self.local_share > 0:
            group = np.repeat(self.job_groups[self.jobs[positive]], self.negative_ratio)
            local = (
                (rng.random(len(neg_users)) < self.local_share)
                & (group > 1)
                & (self._size[group] > 1)
            )
            offset = (rng.random(int(local.sum())) * self._size[group[local]]).astype(np.int64)
            neg_jobs[local] = self._order[self._start[group[local]] + offset]
        # Redraw the draws that hit one of the user's positives (a few rounds at most:
        # a user whose positives fill the catalog keeps the last draws).
        for _ in range(MAX_REDRAWS):
            clash = np.flatnonzero(np.isin(neg_users * (1 << 32) + neg_jobs, self._positive_keys))
            if not len(clash):
                break
            neg_jobs[clash] = self.catalog_rows[rng.integers(0, len(self.catalog_rows), len(clash))]
        return positive, neg_jobs.reshape(len(positive), self.negative_ratio)


@dataclass(frozen=True)
class Groups:
    """Rows of a ranking-loss epoch: user row [P], jobs [P, 1 + r] (the positive first,
    then r sampled negatives), weight [P] (the positive's)."""

    users: np.ndarray
    jobs: np.ndarray
    weights: np.ndarray

    def __len__(self) -> int:
        return len(self.users)


def histories_as_of(
    feedback: Sequence[Feedback], job_index: dict[str, int], depth: int
) -> np.ndarray:
    """[F, depth] int64: for each feedback row, the job rows of the user's positives
    BEFORE it (by time, then job id), most recent first, -1 for an empty slot: the
    history the user had when that feedback came, as a held-out item sees it."""
    liked: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for fb in feedback:
        if fb.label > 0 and fb.job_id in job_index:
            liked[fb.user_id].append((fb.time, fb.job_id))
    for items in liked.values():
        items.sort()
    out = np.full((len(feedback), depth), -1, dtype=np.int64)
    for i, fb in enumerate(feedback):
        items = liked.get(fb.user_id, [])
        end = bisect_left(items, (fb.time, fb.job_id))
        before = items[max(0, end - depth) : end]
        for h, (_, job_id) in enumerate(reversed(before)):
            out[i, h] = job_index[job_id]
    return out


def attach_history(
    users: Sequence[UserRecord], feedback: Iterable[Feedback], jobs: Sequence[JobRecord], depth: int
) -> list[UserRecord]:
    """Users with `history` = their positively rated jobs, most recent first (<= depth)."""
    by_id = {j.job_id: j for j in jobs}
    liked: dict[str, list[Feedback]] = defaultdict(list)
    for fb in feedback:
        if fb.label > 0 and fb.job_id in by_id:
            liked[fb.user_id].append(fb)
    out = []
    for user in users:
        recent = sorted(
            liked.get(user.user_id, ()), key=lambda f: (f.time, f.job_id), reverse=True
        )[:depth]
        out.append(replace(user, history=tuple(by_id[f.job_id] for f in recent)))
    return out


def data_fingerprint(
    users: Sequence[UserRecord], jobs: Sequence[JobRecord], interactions: Sequence[Interaction]
) -> str:
    """sha256 over sorted ids and interactions: changes whenever the training data does."""
    digest = hashlib.sha256()
    for user_id in sorted(u.user_id for u in users):
        digest.update(f"u:{user_id}\n".encode())
    for job_id in sorted(j.job_id for j in jobs):
        digest.update(f"j:{job_id}\n".encode())
    for event in sorted(
        (e.user_id, e.job_id, e.type, e.timestamp.isoformat()) for e in interactions
    ):
        digest.update(("i:" + "|".join(event) + "\n").encode())
    return digest.hexdigest()


def data_cutoff(interactions: Sequence[Interaction]) -> str | None:
    """The newest event a model was trained on (ISO 8601): retraining starts after it."""
    newest = max((i.timestamp for i in interactions), default=None)
    return newest.isoformat() if newest is not None else None
