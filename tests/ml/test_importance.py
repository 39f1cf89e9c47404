"""Model-level explanations: the ranking metrics against brute force, a shuffled field
changes only that field, a field that never varies matters exactly nothing, and the
report has every field."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ml.config import ModelConfig
from ml.features import FIELDS
from ml.importance import model_report, permuted, ranking_metrics
from tests.support.builders import fitted_space, random_model, random_records


def test_ranking_metrics_match_brute_force():
    scores = torch.tensor([[0.9, 0.1, 0.2, 0.3], [0.2, 0.5, 0.2, 0.9], [0.1, 0.2, 0.3, 0.4]])
    ndcg, auc = ranking_metrics(scores, k=2)
    # ranks of the first column: 1; 3.5 (two above, one tie counted half); 4
    assert ndcg == pytest.approx([1.0, 0.0, 0.0])
    assert auc == pytest.approx([1.0, 1 - 2.5 / 3, 0.0])
    ndcg4, _ = ranking_metrics(scores, k=4)
    assert ndcg4 == pytest.approx([1.0, 1 / math.log2(4.5), 1 / math.log2(5)])


@pytest.fixture(scope="module")
def pairs():
    users, jobs, interactions = random_records(n_users=10, n_jobs=12, seed=6)
    space = fitted_space(users, jobs, interactions)
    u, j = space.encode_users(users), space.encode_jobs(jobs)
    rows_u = torch.arange(10).repeat_interleave(12)
    rows_j = torch.arange(12).repeat(10)
    model = random_model(space, ModelConfig(embedding_dim=32, conv_filters=32), seed=2)
    return model, space.pairs(u, rows_u, j, rows_j)


def test_a_shuffle_touches_one_field_only(pairs):
    _, x = pairs
    order = torch.randperm(len(x.dense), generator=torch.Generator().manual_seed(0))
    moved = permuted(x, "skill_match", order)
    column = [f.name for f in FIELDS if f.kind == "dense"].index("skill_match")
    assert torch.equal(moved.dense[:, column], x.dense[order, column])
    others = [i for i in range(x.dense.shape[1]) if i != column]
    assert torch.equal(moved.dense[:, others], x.dense[:, others])
    assert torch.equal(moved.categorical, x.categorical) and torch.equal(moved.bags, x.bags)


def test_the_report_covers_every_field_and_a_constant_one_counts_nothing(pairs):
    model, x = pairs
    report = model_report(model, x, users=10, k=5, boot=50)
    assert set(report["importance"]) == {f.name for f in model.fields}
    column = [f.name for f in FIELDS if f.kind == "dense"].index("job_remote")
    constant = x._replace(dense=x.dense.clone())
    constant.dense[:, column] = 1.0  # the same value in every pair
    flat = model_report(model, constant, users=10, k=5, boot=50)["importance"]["job_remote"]
    assert flat["ndcg@5_drop"] == 0 and flat["auc_drop"] == 0
    assert flat["ndcg@5_drop_ci"] == (0.0, 0.0)
    for value in report["importance"].values():
        low, high = value["auc_drop_ci"]
        assert low <= value["auc_drop"] <= high
    filters = np.array(report["conv_response"]["filters"])
    assert filters.shape == (32, len(report["conv_response"]["positions"]))
    sizes = [abs(p["mean"]) for p in report["fm_pairs"]]
    assert sizes == sorted(sizes, reverse=True) and len(sizes) == 10
