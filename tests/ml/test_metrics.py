"""Ranking metrics on cases small enough to compute by hand."""

import math

import numpy as np
import pytest
import torch

from ml.metrics import RankingTask, bootstrap_interval, evaluate_ranking, paired_difference


def fixed_scores(matrix):
    scores = torch.tensor(matrix, dtype=torch.float64)
    return lambda rows: scores[rows]


def test_single_relevant_item_metrics():
    # user 0: relevant item 2 ranked 2nd of 5; user 1: relevant item 4 ranked 1st
    scores = [[0.9, 0.1, 0.8, 0.3, 0.2], [0.1, 0.2, 0.3, 0.4, 0.9]]
    task = RankingTask(
        users=[0, 1], relevant=[[2], [4]], excluded=[[], []], groups=np.array([0, 1, 0, 2, 3])
    )
    m = evaluate_ranking(fixed_scores(scores), task, k=2)
    assert m["users"] == 2
    assert m["hr@2"] == 1.0
    assert m["precision@2"] == pytest.approx(0.5)
    assert m["recall@2"] == 1.0
    assert m["ndcg@2"] == pytest.approx((1 / math.log2(3) + 1) / 2)
    assert m["map@2"] == pytest.approx((0.5 + 1) / 2)
    assert m["mrr"] == pytest.approx((0.5 + 1) / 2)
    assert m["auc"] == pytest.approx((3 / 4 + 1) / 2)
    assert m["coverage@2"] == pytest.approx(4 / 5)  # items 0, 2, 4, 3
    assert m["diversity@2"] == pytest.approx((1 / 2 + 2 / 2) / 2)


def test_excluded_items_are_not_ranked():
    scores = [[0.9, 0.8, 0.1]]
    task = RankingTask(users=[0], relevant=[[1]], excluded=[[0]], groups=np.arange(3))
    m = evaluate_ranking(fixed_scores(scores), task, k=1)
    assert m["hr@1"] == 1.0 and m["auc"] == 1.0


def test_multiple_relevant_items():
    scores = [[0.9, 0.8, 0.7, 0.6]]
    task = RankingTask(users=[0], relevant=[[0, 2]], excluded=[[]], groups=np.arange(4))
    m = evaluate_ranking(fixed_scores(scores), task, k=3)
    assert m["precision@3"] == pytest.approx(2 / 3) and m["recall@3"] == 1.0
    ideal = 1 + 1 / math.log2(3)
    assert m["ndcg@3"] == pytest.approx((1 + 1 / math.log2(4)) / ideal)
    assert m["map@3"] == pytest.approx((1 + 2 / 3) / 2)
    assert m["auc"] == pytest.approx(0.5 * (1 + 0.5))


def test_constant_scores_give_chance_level_not_perfect_metrics():
    n_items, n_users = 200, 300
    rng = np.random.default_rng(0)
    task = RankingTask(
        users=list(range(n_users)),
        relevant=[[int(rng.integers(n_items))] for _ in range(n_users)],
        excluded=[[] for _ in range(n_users)],
        groups=np.arange(n_items),
    )
    m = evaluate_ranking(lambda rows: torch.zeros(len(rows), n_items), task, k=10)
    assert m["hr@10"] == pytest.approx(10 / n_items, abs=0.03)
    assert m["auc"] == pytest.approx(0.5, abs=0.05)


def test_paired_difference_resamples_users_with_both_models_together():
    a = {"u1": {"ndcg": 1.0}, "u2": {"ndcg": 0.5}, "u3": {"ndcg": 0.0}, "only-a": {"ndcg": 9.0}}
    b = {"u1": {"ndcg": 0.5}, "u2": {"ndcg": 0.5}, "u3": {"ndcg": 0.25}}
    out = paired_difference(a, b, "ndcg", boot=500, seed=3)
    diff = np.array([0.5, 0.0, -0.25])  # users of both, sorted
    assert out["users"] == 3 and out["mean"] == pytest.approx(diff.mean())
    low, high = bootstrap_interval(diff, 500, np.random.default_rng(3))
    assert (out["ci_low"], out["ci_high"]) == (low, high)
    same = paired_difference(a, a, "ndcg")
    assert same["mean"] == same["ci_low"] == same["ci_high"] == 0.0  # paired: no spread
    assert math.isnan(paired_difference(a, {}, "ndcg")["mean"])
