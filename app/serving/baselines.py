"""The baselines served as models (experiments name them): `popularity` ranks the jobs
passing the filters by how many users had a positive event on them; `trending` by the
clicks and applications of recent days, each worth less the older it is (a half-life);
`content` by the weighted match features ConvFM also sees (skills, city, distance,
region, salary; as in `ml.baselines.ContentRanker`). Popularity breaks the ties of the
others. Scores are scaled into [0, 1]: popularity and trending over the top job's,
content over the sum of its weights. Trending is also the answer for an unknown user
who asks for it (`"fallback": "trending"`)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import torch

from app.repositories import CatalogJob
from app.serving.catalog import Catalog, CatalogPart
from app.serving.filters import JobFilter
from ml.baselines import CONTENT_WEIGHTS
from ml.features import EntityFeatures, FeatureSpace, fields_of
from ml.records import UserRecord

BASELINES = ("popularity", "content", "trending")
TIE_BREAK = 1e-6  # popularity's share of another baseline's score: it only orders ties


class JobScores:
    """A score per job id (popularity counts, trending weights), replaced whole by the
    store poller; per catalog part as an array aligned with its rows (made once per
    part), over the top score."""

    def __init__(self, counts: dict[str, float] | None = None) -> None:
        self._counts = counts or {}
        self._top = max(self._counts.values(), default=0.0)
        self._parts: dict[int, tuple[CatalogPart, np.ndarray]] = {}
        self._lock = threading.Lock()

    def update(self, counts: dict[str, float]) -> None:
        with self._lock:
            self._counts, self._top, self._parts = counts, max(counts.values(), default=0.0), {}

    def of(self, part: CatalogPart) -> np.ndarray:
        """float64 [len(part)]: each job's score over the top score (0 when none)."""
        with self._lock:
            kept = self._parts.get(id(part))
            if kept is not None and kept[0] is part:
                return kept[1]
            counts, top = self._counts, self._top
            values = np.array([counts.get(str(i), 0) for i in part.ids], dtype=np.float64)
            values /= top if top > 0 else 1.0
            if len(self._parts) > 8:  # parts of old snapshots
                self._parts.clear()
            self._parts[id(part)] = (part, values)
            return values


@dataclass(frozen=True)
class Signals:
    """What the baselines rank by, beside the catalog."""

    popularity: JobScores = field(default_factory=JobScores)
    trending: JobScores = field(default_factory=JobScores)


def rank_baseline(
    name: str,
    catalog: Catalog,
    space: FeatureSpace,
    signals: Signals,
    user: UserRecord,
    job_filter: JobFilter,
    k: int,
) -> tuple[list[tuple[CatalogJob, float]], int]:
    """The top k jobs passing the filter by the baseline `name`; (jobs, candidates)."""
    users = space.encode_users([user]) if name == "content" else None
    found: list[tuple[float, CatalogJob]] = []
    scored = 0
    for part, visible in catalog.parts():
        mask = job_filter.mask(part)
        if visible is not None:
            mask &= visible
        rows = np.flatnonzero(mask)
        if not len(rows):
            continue
        scores = signals.popularity.of(part)[rows]
        if users is not None:
            scores = _content(part, users, rows) + TIE_BREAK * scores
        elif name == "trending":
            scores = signals.trending.of(part)[rows] + TIE_BREAK * scores
        best = np.argsort(-scores, kind="stable")[:k]
        found += [(float(scores[i]), part.jobs[rows[i]]) for i in best]
        scored += len(rows)
    found.sort(key=lambda item: -item[0])
    return [(job, min(1.0, max(0.0, score))) for score, job in found[:k]], scored


def _content(part: CatalogPart, users: EntityFeatures, rows: np.ndarray) -> np.ndarray:
    """float64 [len(rows)]: the weighted match features over the weights' sum."""
    names = [f.name for f in fields_of("dense")]
    weights = torch.tensor([CONTENT_WEIGHTS.get(n, 0.0) for n in names], dtype=torch.float64)
    with torch.inference_mode():
        x = part.scorer.pair_features(users, 0, torch.from_numpy(rows)).double()
    return (x @ weights / weights.sum()).numpy()
