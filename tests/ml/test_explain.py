"""Explanations: the first-order and FM splits are exact, the whole adds up to the
logit, integrated gradients leave a small residual, and the largest contribution is
faithful (removing that field moves the score more than removing a random one)."""

from __future__ import annotations

import random

import pytest
import torch

from ml.config import ModelConfig
from ml.explain import explain, first_order_by_field
from ml.features import FIELDS, ModelInput
from tests.support.builders import fitted_space, random_model, random_records


def pairs_of(space, users, jobs):
    u, j = space.encode_users(users), space.encode_jobs(jobs)
    rows_u = torch.arange(len(users)).repeat_interleave(len(jobs))
    rows_j = torch.arange(len(jobs)).repeat(len(users))
    return space.pairs(u, rows_u, j, rows_j)


@pytest.fixture(scope="module")
def data():
    users, jobs, interactions = random_records(n_users=6, n_jobs=12, seed=5)
    space = fitted_space(users, jobs, interactions)
    return space, pairs_of(space, users, jobs)


CONFIGS = {
    "convfm": ModelConfig(embedding_dim=32, conv_filters=32),
    "no_fm": ModelConfig(embedding_dim=32, conv_filters=32, use_fm=False),
    "no_conv": ModelConfig(embedding_dim=32, conv_filters=32, use_conv=False),
    "no_deep": ModelConfig(embedding_dim=32, conv_filters=32, use_deep=False),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_contributions_add_up_to_the_logit(data, name):
    space, x = data
    model = random_model(space, CONFIGS[name], seed=3)
    explained = explain(model, x)
    logits = model(x).detach()
    for e, logit in zip(explained, logits.tolist(), strict=True):
        assert sum(v for _, v in e.contributions()) == pytest.approx(logit, abs=1e-4)
        assert abs(e.residual) < 1e-4  # float rounding only: the rule is exact
        assert [n for n, _ in e.contributions()][1:-1] == [f.name for f in model.fields]


def test_the_first_order_and_fm_splits_are_exact(data):
    space, x = data
    model = random_model(space, CONFIGS["convfm"], seed=4)
    with torch.no_grad():
        by_field = first_order_by_field(model, x)
        assert torch.allclose(by_field.sum(1) + model.bias, model.first_order(x), atol=1e-5)
        e = model.field_embeddings(x)
        brute = torch.stack(
            [
                sum(e[b, f] @ e[b, g] for f in range(e.shape[1]) for g in range(f + 1, e.shape[1]))
                for b in range(len(e))
            ]
        )
        assert torch.allclose(brute, model.fm(e), atol=1e-4)
    explained = explain(model, x)
    for b, ex in enumerate(explained):
        assert float(torch.triu(ex.pairs, 1).sum()) == pytest.approx(float(brute[b]), abs=1e-4)


def without(x: ModelInput, field: str) -> ModelInput:
    """`x` with one field set to its padding input (index 0, an empty bag, value 0)."""
    kinds = {"categorical": [], "bag": [], "dense": []}
    for f in FIELDS:
        kinds[f.kind].append(f.name)
    kind = next(k for k, names in kinds.items() if field in names)
    i = kinds[kind].index(field)
    tensor = {"categorical": x.categorical, "bag": x.bags, "dense": x.dense}[kind].clone()
    tensor[:, i] = 0
    key = {"categorical": "categorical", "bag": "bags", "dense": "dense"}[kind]
    return x._replace(**{key: tensor})


def test_removing_the_top_field_moves_the_score_more_than_a_random_one(data):
    space, x = data
    model = random_model(space, CONFIGS["convfm"], seed=7)
    explained = explain(model, x)
    rng = random.Random(0)
    names = [f.name for f in model.fields]
    wins = trials = 0
    with torch.no_grad():
        base = model(x)
        for b, e in enumerate(explained):
            top = max(e.fields, key=lambda n: e.fields[n])
            if e.fields[top] <= 0:
                continue
            other = rng.choice([n for n in names if n != top])
            row = x._replace(
                categorical=x.categorical[b : b + 1],
                bags=x.bags[b : b + 1],
                dense=x.dense[b : b + 1],
            )
            drop_top = float(base[b] - model(without(row, top))[0])
            drop_other = float(base[b] - model(without(row, other))[0])
            wins += drop_top > drop_other
            trials += 1
    assert trials >= 40 and wins / trials > 0.75


@pytest.mark.parametrize("name", CONFIGS)
def test_the_rescale_rule_is_complete(data, name):
    from ml.explain import _branches, rescale_attributions

    space, x = data
    model = random_model(space, CONFIGS[name], seed=5)
    with torch.no_grad():
        e = model.field_embeddings(x)
        exact = _branches(model, e) - _branches(model, torch.zeros_like(e))
    attributions, at_e, at_zero = rescale_attributions(model, e)
    assert attributions.shape == e.shape
    assert torch.allclose(attributions.sum((1, 2)), exact, atol=1e-4)
    assert torch.allclose(at_e - at_zero, exact, atol=1e-5)
