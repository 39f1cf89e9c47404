"""The reference scorer: ConvFM's own forward over every (user, job) pair.

Slow and plain on purpose: it builds the pairs with `FeatureSpace.pairs`, the training
code path, so it is what the serving scorer (`ml.scoring.scorer`) is checked against.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ml.features import EntityFeatures, FeatureSpace
from ml.model import ConvFM


@torch.inference_mode()
def score_catalog(
    model: ConvFM,
    space: FeatureSpace,
    users: EntityFeatures,
    user_rows: Tensor,
    jobs: EntityFeatures,
    *,
    max_pairs: int = 8192,
) -> Tensor:
    """Reference: probabilities [U, N] of each user row against every job, by batched
    `ConvFM.forward` over pairs built by `FeatureSpace.pairs` (the training code path).
    """
    n_jobs = len(jobs)
    out = torch.empty((len(user_rows), n_jobs))
    users_per_batch = max(1, max_pairs // max(n_jobs, 1))
    job_rows = torch.arange(n_jobs)
    for start in range(0, len(user_rows), users_per_batch):
        chunk = user_rows[start : start + users_per_batch]
        pair_users = chunk.repeat_interleave(n_jobs)
        pair_jobs = job_rows.repeat(len(chunk))
        for lo in range(0, len(pair_users), max_pairs):
            hi = lo + max_pairs
            x = space.pairs(users, pair_users[lo:hi], jobs, pair_jobs[lo:hi])
            flat = torch.sigmoid(model(x))
            out.view(-1)[start * n_jobs + lo : start * n_jobs + lo + len(flat)] = flat
    return out
