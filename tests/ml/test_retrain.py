"""Retraining's pieces: grown vocabularies keep every old row, the warm-started model
scores old inputs exactly as production did, and the data keeps the new users and a
replay sample of the others."""

from __future__ import annotations

from datetime import timedelta

import torch

from ml.retrain import grow_space, retraining_data, warm_start
from tests.support.builders import T0, fitted_space, random_model, random_records


def test_grown_vocabularies_keep_the_old_rows():
    users, jobs, interactions = random_records(n_users=8, n_jobs=10, seed=1)
    old = fitted_space(users[:4], jobs[:5], interactions, id_embeddings=True, min_id_count=1)
    new_users, new_jobs, more = random_records(n_users=12, n_jobs=20, seed=2)
    fitted = fitted_space(new_users, new_jobs, more, id_embeddings=True, min_id_count=1)
    grown = grow_space(old, fitted)
    for name, vocab in old.vocabularies.items():
        assert grown.vocabularies[name].tokens[: len(vocab)] == vocab.tokens
        assert set(fitted.vocabularies[name].to_json()) <= set(grown.vocabularies[name].tokens)
    assert len(grown.vocabularies["job"]) > len(old.vocabularies["job"])


def test_the_warm_start_scores_what_production_knew_exactly():
    users, jobs, interactions = random_records(n_users=8, n_jobs=10, seed=1)
    old = fitted_space(users, jobs, interactions, id_embeddings=True, min_id_count=1)
    model = random_model(old)
    new_users, new_jobs, more = random_records(n_users=12, n_jobs=20, seed=2)
    grown = grow_space(old, fitted_space(new_users, new_jobs, more, id_embeddings=True))
    warm = warm_start(model, grown).eval()
    rows = torch.arange(len(jobs))
    x = old.pairs(old.encode_users(users), torch.zeros_like(rows), old.encode_jobs(jobs), rows)
    # old tokens keep their rows, so production's inputs mean the same to the grown model
    assert torch.equal(warm.predict(x), model.predict(x))
    assert warm.padding_is_zero()


def test_the_data_keeps_new_users_and_a_replay_sample():
    _, _, interactions = random_records(n_users=40, n_jobs=10, seed=3)
    cutoff = T0 + timedelta(hours=400)
    fresh_expected = {i.user_id for i in interactions if i.timestamp > cutoff}
    kept, fresh = retraining_data(interactions, cutoff, 0.5, seed=0)
    assert fresh == fresh_expected
    kept_users = {i.user_id for i in kept}
    others = {i.user_id for i in interactions} - fresh
    assert fresh <= kept_users and len(kept_users - fresh) == round(0.5 * len(others))
    for user in kept_users:  # a kept user keeps every event
        assert [i for i in kept if i.user_id == user] == [
            i for i in interactions if i.user_id == user
        ]
    none, _ = retraining_data(interactions, cutoff, 0.0, seed=0)
    assert {i.user_id for i in none} == fresh
