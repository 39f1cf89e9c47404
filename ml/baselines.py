"""Baselines, ranked by exactly the protocol that ranks ConvFM (`ml.metrics`)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import Tensor

from ml.data import Feedback
from ml.features import EntityFeatures, FeatureSpace

# weights of the content-match score: sum of w * pair feature
CONTENT_WEIGHTS = {"skill_match": 1.0, "same_city": 1.0, "proximity": 0.5,
                   "same_region": 0.5, "salary_fit": 0.25}


class PopularityRanker:
    """Score = number of distinct users with a positive on the job in training."""

    name = "popularity"

    def __init__(self, train: Iterable[Feedback], catalog_ids: tuple[str, ...]) -> None:
        index = {job_id: i for i, job_id in enumerate(catalog_ids)}
        counts = np.zeros(len(catalog_ids), dtype=np.float64)
        for fb in train:
            if fb.label > 0 and fb.job_id in index:
                counts[index[fb.job_id]] += 1.0
        self.scores = torch.from_numpy(counts)

    def __call__(self, user_rows: Tensor) -> Tensor:
        return self.scores.expand(len(user_rows), -1)


class ContentRanker:
    """Score = weighted sum of the pair features that ConvFM also sees.

    Skill overlap, same city, proximity, same region and salary fit
    (`CONTENT_WEIGHTS`); a one-millionth popularity term only breaks ties.
    """

    name = "content"

    def __init__(self, space: FeatureSpace, users: EntityFeatures, jobs: EntityFeatures,
                 popularity: PopularityRanker | None = None) -> None:
        from ml.features import fields_of

        names = [f.name for f in fields_of("dense")]
        self.weights = torch.tensor([CONTENT_WEIGHTS.get(n, 0.0) for n in names])
        self.space, self.users, self.jobs = space, users, jobs
        self.tie_break = (popularity.scores / popularity.scores.max().clamp(min=1) * 1e-6
                          if popularity is not None else torch.zeros(len(jobs)))

    def __call__(self, user_rows: Tensor) -> Tensor:
        n = len(self.jobs)
        pair_users = user_rows.repeat_interleave(n)
        pair_jobs = torch.arange(n).repeat(len(user_rows))
        x = self.space.pairs(self.users, pair_users, self.jobs, pair_jobs)
        scores = (x.dense @ self.weights).view(len(user_rows), n).double()
        return scores + self.tie_break
