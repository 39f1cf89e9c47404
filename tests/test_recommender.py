"""Ranking inside the service: the two-stage path for very large catalogs."""

from datetime import UTC, datetime

import torch

from app.catalog import Catalog
from app.filters import JobFilter
from app.recommender import ServingState, TwoStage, rank
from app.repositories import CatalogJob
from ml.checkpoint import Checkpoint
from tests.helpers import fitted_space, random_model, random_records


def _state(seed: int = 4):
    users, jobs, interactions = random_records(n_users=6, n_jobs=60, seed=seed)
    space = fitted_space(users, jobs, interactions)
    model = random_model(space, seed=seed)
    now = datetime.now(UTC)
    catalog = Catalog.build([CatalogJob(j, now, None, None, None, None, None) for j in jobs],
                            model, space)
    state = ServingState(Checkpoint(model, space, {"model_version": "test"}), catalog)
    return state, users


def test_two_stage_with_a_shortlist_of_everything_equals_full_scoring():
    state, users = _state()
    for user in users:
        full, n_full = rank(state, user, JobFilter(), 10)
        staged, n_staged = rank(state, user, JobFilter(), 10, TwoStage(
            min_candidates=1, shortlist=len(state.catalog.base)))
        assert n_full == n_staged == len(state.catalog.base)
        assert [j.job_id for j, _ in full] == [j.job_id for j, _ in staged]


def test_two_stage_reranks_only_the_first_stage_shortlist():
    state, users = _state()
    scorer = state.catalog.base.scorer
    space = state.checkpoint.space
    for row, user in enumerate(users):
        staged, scored = rank(state, user, JobFilter(), 5, TwoStage(min_candidates=1,
                                                                    shortlist=12))
        assert scored == 12
        encoded = space.encode_users([user])
        shortlist = torch.topk(scorer.first_stage(encoded, 0), 12).indices.tolist()
        ids = {state.catalog.base.jobs[i].job_id for i in shortlist}
        assert len(staged) == 5 and {j.job_id for j, _ in staged} <= ids
        full_scores = scorer.score(encoded, 0)
        best_of_shortlist = sorted((full_scores[i].item() for i in shortlist), reverse=True)[:5]
        assert [round(s, 6) for _, s in staged] == [round(s, 6) for s in best_of_shortlist], row
