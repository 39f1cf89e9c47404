"""Ranking a catalog snapshot for one user: every job passing the filters is scored
(batched), or, past `TwoStage.min_candidates` candidates, the first stage shortlists
and only the shortlist gets the full ConvFM score."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from app.repositories import CatalogJob
from app.serving.catalog import Catalog, CatalogPart
from app.serving.filters import JobFilter
from app.settings import Settings
from ml.checkpoint import Checkpoint
from ml.features import EntityFeatures
from ml.records import UserRecord
from ml.scoring import Parts as UserParts

# Score the whole part and drop the rejected rows once this share of it passes the
# filters: cheaper than gathering the candidates' precomputed parts.
DENSE_SHARE = 0.5
# ... and with two stages, run the first stage's compiled pass over the whole part from
# this share (docs/benchmarks/serving.md has the measurements behind both shares).
WHOLE_FIRST_STAGE_SHARE = 0.1
SELECT_SAMPLE = 16_384  # values sampled to find the first stage's shortlist threshold


@dataclass(frozen=True)
class TwoStage:
    """When a request has more than `min_candidates` candidates, the scorer's cheap first
    stage keeps the best `shortlist` of them and only those get the full ConvFM score."""

    min_candidates: int
    shortlist: int

    @classmethod
    def of(cls, settings: Settings) -> TwoStage:
        """The service's (TWO_STAGE_MIN_CANDIDATES, TWO_STAGE_SHORTLIST)."""
        return cls(settings.two_stage_min_candidates, settings.two_stage_shortlist)


@torch.inference_mode()
def rank(
    checkpoint: Checkpoint,
    catalog: Catalog,
    user: UserRecord,
    job_filter: JobFilter,
    k: int,
    two_stage: TwoStage,
    users: EntityFeatures | None = None,
) -> tuple[list[tuple[CatalogJob, float]], int]:
    """Score every catalog job that passes the filter (batched), keep the top k; past
    `two_stage.min_candidates` candidates, only the first stage's shortlist is scored.
    `users`: the user already encoded (one row). Returns ([(job, score)] best first,
    number of candidates scored)."""
    if users is None:
        users = checkpoint.space.encode_users([user])
    # the user's side of the model is the same for every catalog part: compute it once
    user_parts = catalog.base.scorer.user_parts(users, 0)
    found: list[tuple[float, CatalogJob]] = []
    scored = 0
    for part, visible in catalog.parts():
        top, n = _top(part, visible, users, user_parts, job_filter, k, two_stage)
        found.extend(top)
        scored += n
    found.sort(key=lambda item: -item[0])
    return [(job, score) for score, job in found[:k]], scored


def _top(
    part: CatalogPart,
    visible: np.ndarray | None,
    users: EntityFeatures,
    user_parts: UserParts,
    job_filter: JobFilter,
    k: int,
    two_stage: TwoStage,
) -> tuple[Sequence[tuple[float, CatalogJob]], int]:
    """The best k jobs of one catalog part that pass the filter (and are `visible`),
    with their scores, and how many candidates were scored."""
    if not len(part):
        return [], 0
    mask = job_filter.mask(part)
    if visible is not None:
        mask &= visible
    n = int(np.count_nonzero(mask))
    if not n:
        return [], 0
    two_stages = n > two_stage.min_candidates
    # most of the part passes: scoring all of it and dropping the rest is cheaper than
    # gathering the candidates' precomputed parts
    whole = n >= (WHOLE_FIRST_STAGE_SHARE if two_stages else DENSE_SHARE) * len(part)
    rows = None if whole else np.flatnonzero(mask)
    rejected = torch.from_numpy(~mask) if whole and n < len(part) else None
    if two_stages:
        return _shortlisted(part, users, user_parts, rows, rejected, n, k, two_stage)
    scorer = part.scorer
    scores = scorer.score(users, 0, None if rows is None else torch.from_numpy(rows), user_parts)
    if rejected is not None:
        scores.masked_fill_(rejected, -1.0)  # below every probability
    return _best(part, scores, k, n, rows)


def _shortlisted(
    part: CatalogPart,
    users: EntityFeatures,
    user_parts: UserParts,
    rows: np.ndarray | None,
    rejected: torch.Tensor | None,
    n: int,
    k: int,
    two_stage: TwoStage,
) -> tuple[Sequence[tuple[float, CatalogJob]], int]:
    """Two stages over the candidates (`rows` of the part, or the whole part less the
    `rejected` rows): the first stage keeps a shortlist, ConvFM ranks it."""
    scorer = part.scorer
    size = min(two_stage.shortlist, n)
    if rows is None:  # the whole part: its pair features factored
        table = scorer.pair_table(users, 0, stand_in=True)
        cheap = scorer.first_stage(users, 0, None, user_parts, table, exact=False)
        if rejected is not None:
            cheap.masked_fill_(rejected, -torch.inf)
        shortlist = largest(cheap, size)
        chosen, chosen_pairs = shortlist, table.rows(shortlist)
    else:
        candidates = torch.from_numpy(rows)
        pairs = scorer.pair_features(users, 0, candidates, stand_in=True)
        shortlist = largest(
            scorer.first_stage(users, 0, candidates, user_parts, pairs, exact=False), size
        )
        chosen = candidates.index_select(0, shortlist)
        chosen_pairs = pairs.index_select(0, shortlist)
    chosen_pairs = scorer.mend_pairs(users, 0, chosen, chosen_pairs)
    scores = scorer.score(users, 0, chosen, user_parts, chosen_pairs)
    return _best(part, scores, k, len(shortlist), chosen.numpy())


def largest(values: torch.Tensor, m: int) -> torch.Tensor:
    """Indices of the m largest `values` [n], in no order.

    A strided sample of the values gives a threshold that about 2m of them pass; one
    comparison keeps those and a partition of the few survivors picks the m: O(n) with a
    small constant, far below a partition of every value (the fallback when fewer than m
    pass). Ties at the cut are broken arbitrarily, as by any partition.
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


def _best(
    part: CatalogPart, scores: torch.Tensor, k: int, n: int, rows: np.ndarray | None
) -> tuple[list[tuple[float, CatalogJob]], int]:
    """The top k of `scores` (over `rows` of the part, or over every row) and n."""
    top = torch.topk(scores, min(k, n))
    index = top.indices.numpy() if rows is None else rows[top.indices.numpy()]
    return [
        (float(s), part.jobs[i]) for s, i in zip(top.values.tolist(), index.tolist(), strict=True)
    ], n
