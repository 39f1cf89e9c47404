"""The baselines of the training report against brute-force references."""

import torch

from ml.baselines import CONTENT_WEIGHTS, ContentRanker, PopularityRanker
from ml.data import aggregate_feedback
from ml.features import dense_features_of_user, fields_of
from tests.support.builders import fitted_space, random_records


def test_content_scores_are_the_weighted_pair_features_plus_the_popularity_tie_break():
    """The content baseline reads the whole catalog's pair features (`CatalogPairs`):
    the same as the reference `dense_features_of_user`, weighted, up to float rounding."""
    users, jobs, interactions = random_records(n_users=12, n_jobs=40, seed=3)
    space = fitted_space(users, jobs, interactions)
    u, j = space.encode_users(users), space.encode_jobs(jobs)
    popularity = PopularityRanker(aggregate_feedback(interactions), [job.job_id for job in jobs])
    ranker = ContentRanker(space, u, j, popularity)
    weights = torch.tensor([CONTENT_WEIGHTS.get(f.name, 0.0) for f in fields_of("dense")])
    rows = torch.arange(len(users))
    reference = torch.stack([dense_features_of_user(space, u, int(r), j) @ weights for r in rows])
    got = ranker(rows)
    assert got.shape == (len(users), len(jobs))
    torch.testing.assert_close(got, reference.double() + popularity.tie_break, rtol=0, atol=1e-5)
    assert reference.abs().sum() > 0  # the features are not all zero
